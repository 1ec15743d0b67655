#!/bin/sh
# docs/ERRORS.md: runs every example of the page (```console blocks: "$ " lines are the
# commands, the other lines their exact output, "[exit N]" the status of the last one) in
# an empty folder with BIN_DIR first on PATH, and checks what they print.
# ERRORS_UPDATE=1 writes what the programs print into the page instead (review the diff).
#
# usage: sh tests/e2e/errors_doc.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: errors_doc.sh BIN_DIR}" && pwd) || exit 1
DOC=$(cd "$(dirname "$0")/../.." && pwd)/docs/ERRORS.md
exec python3 - "$BIN" "$DOC" "${ERRORS_UPDATE:-0}" <<'PY'
import os, re, subprocess, sys, tempfile

bin_dir, doc, update = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
text = open(doc, encoding='utf-8').read()
blocks = re.compile(r'^```console\n(.*?)^```$', re.S | re.M)
env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ['PATH'], LC_ALL='C')
passed = failed = 0

def run(commands):
    with tempfile.TemporaryDirectory(prefix='vmem-errors.') as d:
        p = subprocess.run(['bash', '-c', '\n'.join(commands)], cwd=d, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode('utf-8', 'replace').replace(d + '/', '')
    return out.splitlines() + ['[exit %d]' % p.returncode]

def check(m):
    global passed, failed
    lines = m.group(1).splitlines()
    commands = [l[2:] for l in lines if l.startswith('$ ')]
    expected = [l for l in lines if not l.startswith('$ ')]
    # ASan reserves terabytes of address space: no ulimit -v under sanitizers.
    if '/san/' in bin_dir + '/' and any('ulimit' in c for c in commands):
        print('skip - ' + commands[-1])
        return m.group(0)
    got = run(commands)
    if update:
        return '```console\n' + ''.join('$ %s\n' % c for c in commands) + \
               ''.join(l + '\n' for l in got) + '```'
    # Every example fails on purpose: one line of error and a non-zero status.
    if got == expected and (len(got) != 2 or got[-1] == '[exit 0]'):
        failed += 1
        print('FAIL - ' + commands[-1] + ' (expected one line of error, non-zero exit)')
    elif got == expected:
        passed += 1
        print('ok   - ' + commands[-1])
    else:
        failed += 1
        print('FAIL - ' + commands[-1])
        print('    expected: ' + '\n              '.join(expected))
        print('    got:      ' + '\n              '.join(got))
    return m.group(0)

new = blocks.sub(check, text)
if update:
    open(doc, 'w', encoding='utf-8').write(new)
    print('errors_doc: outputs written into ' + doc)
    sys.exit(0)
print('errors_doc: %d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
PY
