# Distribution of memory references per page walk, one bar series per mode, from the CSV
# that `vmemsim --hist` writes (columns trace,mode,refs,walks: how many walks made that
# many references; the demo's out/demo-hist.csv).
#
# usage: gnuplot -e "in='out/demo-hist.csv'; out='out/plots/walk_refs_hist.png'" \
#                plots/walk_refs_hist.gp
#        add  trace='NAME'  to the -e string to draw one trace only (NAME as in the
#        trace column), or  panels=1  for one panel per trace in one figure; otherwise
#        the walks of all traces in the file are added up. pdf=1 writes a PDF.
#
# x: references a walk made to memory (those a walk cache or the nested TLB saved are not
# counted); y: share of that mode's walks, in percent, printed above each bar in
# the mode's colour. The key
# gives each mode's walk count and mean references per walk. A native 4-level walk makes
# at most 4 references, a nested one at most 24 (the 2D walk), a shadow one at most 4.

if (!exists("in")) in = "out/demo-hist.csv"
if (!exists("out")) out = "out/plots/walk_refs_hist.png"
if (!exists("trace")) trace = ""

if (!exists("panels")) panels = 0

set datafile separator ","
set datafile columnheaders

# The traces in the file, in order (rows of a trace are contiguous, as vmemsim writes them).
ntr = 0
tprev = ""
stats in using (strcol("trace") ne tprev ? (ntr = ntr + 1, tprev = strcol("trace")) : 0, 0) nooutput
array tnames[ntr]
ntr = 0
tprev = ""
stats in using (strcol("trace") ne tprev ? (ntr = ntr + 1, tprev = strcol("trace"), \
	tnames[ntr] = tprev) : 0, 0) nooutput
np = panels ? ntr : 1
fig_h = panels ? 450 * np : 600

if (exists("pdf") && pdf) {
	set terminal pdfcairo size 10,(fig_h / 100.0) font "sans,9" noenhanced
} else {
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size 1000,fig_h font "sans,11" noenhanced
	} else {
		set terminal png size 1000,fig_h noenhanced
	}
}
set output out
if (panels) { set multiplot layout np,1 }

nm = 3
array mname[nm] = ["native", "nested", "shadow"]
array mcolor[nm] = ["#1f77b4", "#ff7f0e", "#2ca02c"]
mi(m) = m eq mname[1] ? 1 : m eq mname[2] ? 2 : m eq mname[3] ? 3 : 0
keep(t) = trace eq "" || t eq trace

do for [panel = 1:np] {
	if (panels) { trace = tnames[panel] }
	set datafile separator ","
	set datafile columnheaders
	unset logscale y
	set yrange [*:*]
	# Range of reference counts and number of traces in the file.
	ntr = 0
	tprev = ""
	stats in using (strcol("trace") ne tprev ? (ntr = ntr + 1, tprev = strcol("trace")) : 0, \
		column("refs")) nooutput
	rmin = STATS_min
	rmax = STATS_max
	nr = rmax - rmin + 1
	
	# Walks per (mode, refs), summed over the traces kept; walks and references per mode.
	array cnt[nm * nr]
	array tot[nm]
	array refsum[nm]
	do for [i = 1:nm * nr] { cnt[i] = 0 }
	do for [k = 1:nm] { tot[k] = 0; refsum[k] = 0 }
	slot(k, r) = (k - 1) * nr + (r - rmin) + 1
	add(k, r, w) = (cnt[slot(k, r)] = cnt[slot(k, r)] + w, tot[k] = tot[k] + w, \
		refsum[k] = refsum[k] + r * w)
	stats in using ((keep(strcol("trace")) && mi(strcol("mode")) > 0) ? \
		add(mi(strcol("mode")), column("refs"), column("walks")) : 0) nooutput
	pct(k, r) = (tot[k] > 0 && cnt[slot(k, r)] > 0) ? 100.0 * cnt[slot(k, r)] / tot[k] : NaN
	keytitle(k) = tot[k] > 0 ? sprintf("%s: %d walks, mean %.2f refs/walk", mname[k], tot[k], \
		refsum[k] / tot[k]) : sprintf("%s: no walks", mname[k])
	
	what = trace eq "" ? (ntr == 1 ? tprev : sprintf("%d traces added up", ntr)) : trace
	set title sprintf("Memory references per page walk (%s)\n", what) . \
		"after walk-cache and nested-TLB hits; bars give the share of each mode's walks"
	set xlabel "memory references made by one walk"
	set ylabel "share of the mode's walks (%, log scale)"
	set xrange [rmin - 0.6:rmax + 0.6]
	set xtics 1 nomirror
	set ytics nomirror
	set mxtics 1
	set grid ytics lc rgb "#dddddd"
	bw = 0.8 / nm
	set boxwidth bw
	set style fill solid 0.85 border lc rgb "#404040"
	set key inside right top vertical box opaque samplen 2 spacing 1.2
	# The bars as a table: refs, then each mode's share (NaN where it made no such walk).
	maxp = 0
	set print $bars
	do for [r = rmin:rmax] {
		line = sprintf("%d", r)
		do for [k = 1:nm] {
			line = line . sprintf(" %g", pct(k, r))
			if (pct(k, r) > maxp) { maxp = pct(k, r) }
		}
		print line
	}
	set print
	# A log y axis: the rare long walks (a few in ten thousand) stay visible beside the
	# common short ones.
	minp = 100
	do for [i = 1:|$bars|] {
		do for [k = 1:nm] {
			v = real(word($bars[i], k + 1))
			if (v == v && v > 0 && v < minp) { minp = v }
		}
	}
	set logscale y
	set yrange [10 ** floor(log10(minp)) : 100 * 1.5]
	set format y "%g"
	# Two significant digits below 10 %, so that one walk in thousands does not read 0.0.
	pctlabel(p) = p >= 10 ? sprintf("%.1f", p) : sprintf("%.2g", p)
	set datafile separator whitespace
	unset datafile columnheaders
	
	plot for [k = 1:nm] $bars using ($1 + (k - (nm + 1) / 2.0) * bw):(column(k + 1)) \
		with boxes lc rgb mcolor[k] title keytitle(k), \
	     for [k = 1:nm] $bars using ($1 + (k - (nm + 1) / 2.0) * bw):(column(k + 1)):(pctlabel(column(k + 1))) \
		with labels offset 0, 0.7 font ",9" textcolor rgb mcolor[k] notitle
}
if (panels) { unset multiplot }
