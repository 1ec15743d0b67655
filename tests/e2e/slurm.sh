#!/bin/sh
# vmem-sweep against a real Slurm: starts a single-node cluster on this machine (Debian's
# slurm-wlm and munge: a munged, a slurmctld and a slurmd of its own, a minimal slurm.conf
# naming this host with its CPUs, every state, spool, socket and log file in a scratch
# folder), submits a small sweep as a job array, waits for it, collects the results and
# checks the table equals the one the same sweep gives run locally. The daemons are
# stopped at the end, whatever happens.
#
# When Slurm cannot start, the test says why, loudly, and fails: it never passes without
# having run the sweep through Slurm.
bin=${1:?usage: slurm.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/check.inc"

# The daemons this test started, stopped at exit before the scratch folder goes.
pids=
stop_daemons() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for _ in $(seq 50); do
		alive=
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	pids=
}
trap 'stop_daemons; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

cannot() { # reason: Slurm could not start; the test fails, loudly
	echo "FAIL slurm: SLURM COULD NOT START: $*"
	for f in "$tmp"/log/*; do
		[ -s "$f" ] || continue
		echo "---- $(basename "$f") (last lines)"
		tail -n 15 "$f"
	done
	echo "slurm: FAILED: the sweep was not run through Slurm (see above)"
	exit 1
}

for prog in munged slurmctld slurmd sbatch squeue sinfo; do
	command -v "$prog" >/dev/null 2>&1 ||
		PATH=$PATH:/usr/sbin:/sbin command -v "$prog" >/dev/null 2>&1 ||
		cannot "$prog not found: install slurm-wlm and munge (scripts/deps.sh does)"
done
PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" = 0 ] || cannot "the test runs the Slurm daemons as root (SlurmUser=root); run it as root"

cd "$tmp" || exit 1
mkdir -p munge state spool log
chmod 700 munge
ln -s "$top/traces" traces
sweep="$bin/vmem-sweep"

# The same small sweep as tests/e2e/sweep.sh: 16 runs.
"$bin/vmem-gen" -o gen.vmt pattern=uniform footprint=64m count=150k seed=3 >/dev/null 2>&1
cat >small.sweep <<'EOF'
# 2 traces x 4 tlb.l2 x 2 modes = 16 runs
trace = traces/lackey/xz-text.lackey.zst gen.vmt
axis tlb.l2 = range 64..512 *2 as {}:4
modes = native nested
limit = 150k
EOF
"$sweep" run --jobs 2 --results local small.sweep 2>/dev/null
check "local sweep" 0 $?
"$sweep" collect --results local --csv local.csv small.sweep 2>/dev/null

# munge: a key of our own, the daemon on a socket in the scratch folder.
dd if=/dev/urandom of=munge/munge.key bs=1024 count=1 2>/dev/null
chmod 600 munge/munge.key
munged --force --socket="$tmp/munge/sock" --key-file="$tmp/munge/munge.key" \
	--pid-file="$tmp/munge/pid" --log-file="$tmp/log/munged.log" \
	--seed-file="$tmp/munge/seed" >"$tmp/log/munged.out" 2>&1 ||
	cannot "munged did not start"
for _ in $(seq 50); do [ -s munge/pid ] && break; sleep 0.1; done
[ -s munge/pid ] || cannot "munged wrote no pid file"
pids="$(cat munge/pid)"

host=$(hostname -s)
cpus=$(nproc)
port=$((20000 + ($$ % 5000) * 2))
cat >slurm.conf <<EOF
# A single-node cluster for tests/e2e/slurm.sh: no cgroups, no accounting.
ClusterName=vmemtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/sock
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=sweep Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids="$pids $!"
slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids="$pids $!"

# The node comes up idle.
state=
for _ in $(seq 150); do
	state=$(sinfo -h -n "$host" -o %T 2>/dev/null)
	[ "$state" = idle ] && break
	sleep 0.2
done
[ "$state" = idle ] || cannot "node $host is not idle after 30 s (state: '${state:-no answer}')"
check "single-node Slurm up ($host, $cpus CPUs)" idle "$state"

# The sweep as a job array of 4 tasks of 4 runs.
"$sweep" submit --chunk 4 --time 5:00 --results slurm small.sweep >submit.log 2>&1
check "submit exits 0" 0 $?
job=$(sed -n 's/^submitted job \([0-9]*\).*/\1/p' submit.log)
[ -n "$job" ] || cannot "sbatch did not accept the job: $(cat submit.log)"
check "job array of 4 tasks" 1 "$(grep -c '^#SBATCH --array=0-3$' slurm/slurm/small.sbatch)"
"$sweep" status small.sweep --results slurm >status.log 2>&1
check "status names the job" 1 "$(grep -c "^Slurm job $job:" status.log)"

# Collect works while the tasks are queued or run (a partial table).
"$sweep" collect --results slurm small.sweep >partial.csv 2>partial.log
check "collect while the job runs" 0 $?
check "collect while the job runs: a partial count" 1 \
	"$(grep -c '^vmem-sweep: [0-9]* of 16 runs present' partial.log)"

# Wait for the array (at most 120 s).
left=
for _ in $(seq 600); do
	left=$(squeue -h -r -j "$job" 2>/dev/null | wc -l)
	[ "$left" = 0 ] && break
	sleep 0.2
done
[ "$left" = 0 ] || cannot "job $job still has $left tasks queued or running after 120 s"

"$sweep" collect --results slurm --csv slurm.csv small.sweep 2>collect.log
check "collect: every run present" "vmem-sweep: 16 of 16 runs present (0 failed); table in slurm.csv" \
	"$(cat collect.log)"
check "Slurm table equals the local table" "" "$(cmp slurm.csv local.csv 2>&1)"
tasks=$(ls slurm/slurm/task-"${job}"_*.out 2>/dev/null | wc -l)
check "each array task wrote its log" 4 "$tasks"
check "each task ran its own chunk" 4 \
	"$(cat slurm/slurm/task-"${job}"_*.out | grep -c '^vmem-sweep: 4 runs: 4 ran, 0 reused, 0 failed')"

stop_daemons
echo "slurm: $pass passed, $fail failed"
[ "$fail" = 0 ]
