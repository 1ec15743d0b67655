# Cycles per memory access, split by where they go, for each trace and mode, from the CSV
# that `vmemsim --csv` writes (columns trace,mode,<statistics>; the demo's out/demo.csv).
#
# usage: gnuplot -e "in='out/demo.csv'; out='out/plots/cycles_per_access.png'" \
#                plots/cycles_per_access.gp
#
# One panel per trace (rows of a trace are contiguous, as vmemsim writes them), one stacked
# bar per row in row order. The panels share one y scale unless the traces' largest totals
# differ more than threefold; then each panel has its own scale (see the y tics). The stack
# is vmemsim's cycle breakdown divided by the row's accesses, bottom to top:
#   cycles.access  the accesses themselves (cost.access each)
#   cycles.tlb     L1 misses that hit the STLB
#   cycles.walk    page-walk memory references
#   cycles.exits   VM exits and the VMM work they do (shadow fills, PTE emulation)
#   cycles.faults  guest and host page faults
# The five add up to cycles.total; its per-access value (cycles.per_access) is printed above
# each bar, and the segments tall enough to hold a number are labelled with theirs.
# STLB hits and walks are often too thin to see, so their sum is printed as "TLB+walk": in
# the access segment, or above the total when that segment is too short.
#
# Options (-e "name='value'"):
#   what='translation'  leave the accesses themselves out: the bars are the cycles spent
#                       translating (STLB hits, walks, exits) and faulting, per access
#   subtitle='...'      a second title line, e.g. which phase of a warm-up the rows are
#   pdf=1               write a PDF (pdfcairo) to out instead of a PNG

if (!exists("in")) in = "out/demo.csv"
if (!exists("out")) out = "out/plots/cycles_per_access.png"
if (!exists("what")) what = "all"
if (!exists("subtitle")) subtitle = ""
xlate = what eq "translation"

set datafile separator ","
set datafile columnheaders

# Trace names without the compression and format suffixes, for the panel labels.
strip(s, suf) = (strlen(s) > strlen(suf) && s[strlen(s) - strlen(suf) + 1:] eq suf) ? \
	s[1:strlen(s) - strlen(suf)] : s
short(s) = strip(strip(strip(strip(s, ".zst"), ".gz"), ".xz"), ".lackey")

per(name) = column(name) / column("accesses")
s1(x) = xlate ? 0 : per("cycles.access")
s2(x) = s1(x) + per("cycles.tlb")
s3(x) = s2(x) + per("cycles.walk")
s4(x) = s3(x) + per("cycles.exits")
s5(x) = s4(x) + per("cycles.faults")

# First pass: each row's trace (tid) and place within its trace (xs), each trace's name,
# bar count and largest total.
stats in using 0 nooutput
nrows = STATS_records
array xs[nrows]
array tid[nrows]
array rmode[nrows]
array tname[nrows]
array tbars[nrows]
array tmax[nrows]
nt = 0
prev = ""
row(r, total) = (strcol("trace") ne prev ? \
		(nt = nt + 1, prev = strcol("trace"), tname[nt] = short(prev), tbars[nt] = 0, \
		 tmax[nt] = 0) : 0, \
	xs[r + 1] = tbars[nt], tid[r + 1] = nt, rmode[r + 1] = strcol("mode"), tbars[nt] = tbars[nt] + 1, \
	tmax[nt] = total > tmax[nt] ? total : tmax[nt])
stats in using (row(column(0), s5(0))) nooutput
maxbars = 0
ymax = 0
ymin = 0
do for [i = 1:nt] {
	if (tbars[i] > maxbars) { maxbars = tbars[i] }
	if (tmax[i] > ymax) { ymax = tmax[i] }
	if (i == 1 || tmax[i] < ymin) { ymin = tmax[i] }
}
shared = ymin > 0 && ymax / ymin <= 3

# Pixels: 60 for the y label, 55 for y tic labels (on every panel when each has its own
# scale, else on the first only, the others 10 apart), about 85 a bar, 250 for the key.
gap = shared ? 10 : 55
width = 60 + 55 + nt * (85 * maxbars + 5) + (nt - 1) * gap + 250
width = width < 800 ? 800 : width
if (exists("pdf") && pdf) {
	# 100 pixels to the inch, as on the PNG.
	set terminal pdfcairo size (width / 100.0),6.5 font "sans,9" noenhanced
} else {
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size width,650 font "sans,11" noenhanced
	} else {
		set terminal png size width,650 noenhanced
	}
}
set output out

# Panel i's bars: x is the place in the trace, NaN for the other traces' rows.
bx(i) = tid[column(0) + 1] == i ? xs[column(0) + 1] : NaN
# Segment label from lo to hi: its value, where it is tall enough to hold one.
seg(lo, hi, top) = (hi - lo) > 0.07 * top ? sprintf("%.2f", hi - lo) : ""
xw(x) = sprintf("TLB+walk\n%.3f", s3(x) - s1(x))
# "TLB+walk" goes into the access segment when that is tall enough, else above the total.
inside(top) = s1(0) > 0.16 * top
xw_in(top) = xlate || !inside(top) ? "" : xw(0)
xw_up(top) = xlate || inside(top) ? "" : xw(0)

set multiplot title (xlate ? \
	"Translation cycles per memory access: STLB hits, walks, VM exits and faults (vmemsim cost model)" : \
	"Cycles per memory access by component (vmemsim cost model; total above each bar)") . \
	(subtitle eq "" ? "" : "\n" . subtitle) . (shared ? "" : "\neach panel has its own y scale")
set style fill solid 0.9 border lc rgb "#404040"
set boxwidth 0.8
set ytics nomirror
set grid ytics lc rgb "#dddddd"
set bmargin at screen 0.14
ytop = shared ? 0.9 : 0.86
set tmargin at screen ytop
# Plot area of one panel, in pixels, when the picture is wider than the bars need.
area = (width - 60.0 - 55 - 250 - (nt - 1) * gap) / nt - 5
do for [i = 1:nt] {
	top = (shared ? ymax : tmax[i]) * 1.25
	x0 = 60.0 + 55 + (i - 1) * (area + 5 + gap)
	set lmargin at screen x0 / width
	set rmargin at screen (x0 + area) / width
	if (i > 1 && shared) { set format y "" } else { set format y "%g" }
	set xrange [-0.6:maxbars - 0.4]
	set yrange [0:top]
	set xlabel tname[i] font ",12"
	set xtics nomirror scale 0 ()
	do for [r = 1:nrows] {
		if (tid[r] == i) { set xtics add (rmode[r] xs[r]) }
	}
	if (i == 1) {
		set ylabel (xlate ? "translation cycles per access" : "cycles per access")
		set key at screen 1 - 10.0 / width, ytop top right vertical reverse Left samplen 2 \
			spacing 1.3 title "component"
	} else {
		unset ylabel
		unset key
	}
	plot in using (bx(i)):(s5(0)) with boxes lc rgb "#d62728" title "faults (guest and host)", \
	     "" using (bx(i)):(s4(0)) with boxes lc rgb "#ff7f0e" title "VM exits", \
	     "" using (bx(i)):(s3(0)) with boxes lc rgb "#9467bd" title "page walks", \
	     "" using (bx(i)):(s2(0)) with boxes lc rgb "#2ca02c" title "STLB hits", \
	     "" using (bx(i)):(s1(0)) with boxes lc rgb "#aec7e8" title (xlate ? "" : "the access itself"), \
	     "" using (bx(i)):(s5(0)):(sprintf(xlate ? "%.3f" : "%.2f", s5(0))) \
	        with labels offset 0, 0.8 font ",11:Bold" notitle, \
	     "" using (bx(i)):(s5(0)):(xw_up(top)) with labels offset 0, 2.6 font ",9" notitle, \
	     "" using (bx(i)):((s4(0) + s5(0)) / 2):(seg(s4(0), s5(0), top)) with labels font ",9" notitle, \
	     "" using (bx(i)):((s3(0) + s4(0)) / 2):(seg(s3(0), s4(0), top)) with labels font ",9" notitle, \
	     "" using (bx(i)):((s2(0) + s3(0)) / 2):(xlate ? seg(s2(0), s3(0), top) : "") with labels font ",9" notitle, \
	     "" using (bx(i)):((s1(0) + s2(0)) / 2):(xlate ? seg(s1(0), s2(0), top) : "") with labels font ",9" notitle, \
	     "" using (bx(i)):(s1(0) / 2):(seg(0, s1(0), top)) with labels font ",9" notitle, \
	     "" using (bx(i)):(s1(0)):(xw_in(top)) with labels offset 0, -1.6 font ",9" notitle
}
unset multiplot
