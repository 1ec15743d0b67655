# TLB miss rate and translation cycles against TLB size, from the CSV that
# scripts/sweep-tlb.sh writes (columns structure,entries,mode,trace,<vmemsim --csv stats>).
#
# usage: gnuplot -e "in='out/sweep-tlb.csv'; out='out/plots/tlb_miss_vs_size.png'" \
#                plots/tlb_miss_vs_size.gp
#
# One line per structure swept and mode, x = entries on a log2 axis:
#   tlb.l2 (STLB)  misses of both TLB levels per translation (vmemsim's tlb.miss_rate),
#                  i.e. the lookups that start a page walk;
#   tlb.l1d.4k     misses of the L1 TLB per translation, (translations - tlb.l1.hits) /
#                  translations, whether the STLB then hits or not.
# Top panel: those miss rates in percent, log scale. Bottom panel: cycles the TLB and the
# page walks cost per access, (cycles.tlb + cycles.walk) / accesses, where the modes part:
# a nested walk costs more references than a native one for the same misses.
# The dotted vertical lines mark vmemsim's default sizes (L1 64, STLB 1536 entries); the
# grey dashed line is the floor no TLB size goes below, first touches of pages per translation.

if (!exists("in")) in = "out/sweep-tlb.csv"
if (!exists("out")) out = "out/plots/tlb_miss_vs_size.png"

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,900 font "sans,11" noenhanced
} else {
	set terminal png size 1000,900 noenhanced
}
set output out

set datafile separator ","
set datafile columnheaders

# Trace name and record count, for the title (all rows come from one trace).
trace = ""
stats in using (trace = strcol("trace"), column("records")) nooutput
records = STATS_max
# x range: one power of two either side of the sizes swept.
stats in using "entries" nooutput
xlo = 2**floor(log(STATS_min) / log(2) - 1 + 1e-9)
xhi = 2**ceil(log(STATS_max) / log(2) + 1 - 1e-9)

# y value of a row when it belongs to (structure s, mode m), else NaN (not drawn).
l1miss(s, m) = (strcol("structure") eq s && strcol("mode") eq m) ? \
	100.0 * (column("translations") - column("tlb.l1.hits")) / column("translations") : NaN
l2miss(s, m) = (strcol("structure") eq s && strcol("mode") eq m) ? \
	100.0 * column("tlb.miss_rate") : NaN
# Misses no TLB size avoids: the first touch of each page (a guest page fault), per
# translation; drawn across the whole x range.
firsttouch(m) = strcol("mode") eq m ? 100.0 * column("faults.guest") / column("translations") : NaN
xlat(s, m) = (strcol("structure") eq s && strcol("mode") eq m) ? \
	(column("cycles.tlb") + column("cycles.walk")) / column("accesses") : NaN

# Nested is drawn first with large hollow markers, native on top with small filled ones,
# so both stay visible where the two modes give the same value.
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 1.0 dt 1   # STLB, native
set style line 2 lc rgb "#1f77b4" lw 2 pt 4 ps 2.0 dt 2   # STLB, nested
set style line 3 lc rgb "#d62728" lw 2 pt 9 ps 1.2 dt 1   # L1 DTLB, native
set style line 4 lc rgb "#d62728" lw 2 pt 6 ps 2.2 dt 2   # L1 DTLB, nested

set logscale x 2
set xrange [xlo:xhi]
set xtics xlo, 2, xhi
set format x "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set lmargin 12   # both panels line up
set key inside right top vertical box opaque spacing 1.2 width 1 samplen 3
set arrow 1 from 64, graph 0 to 64, graph 1 nohead dt 3 lc rgb "#d62728"
set arrow 2 from 1536, graph 0 to 1536, graph 1 nohead dt 3 lc rgb "#1f77b4"
set label 1 "L1 default" at 64, graph 0.03 left offset 0.5,0 textcolor rgb "#d62728"
set label 2 "STLB default" at 1536, graph 0.03 right offset -0.5,0 textcolor rgb "#1f77b4"

set multiplot layout 2,1 title sprintf("TLB size sweep on %s (%.0f records); native and nested lines overlap where the modes miss alike", trace, records)

set title "Miss rate"
set ylabel "misses per translation (%, log scale)"
set xlabel "TLB entries (log2 scale)"
set logscale y
set format y "%g"
plot in using (xlo):(firsttouch("native")):(xhi - xlo):(0) with vectors nohead dt 2 lw 1.5 \
        lc rgb "#888888" title "first touches (page faults): the floor", \
     "" using "entries":(l2miss("tlb.l2", "nested")) with linespoints ls 2 title "STLB (tlb.l2), nested", \
     "" using "entries":(l2miss("tlb.l2", "native")) with linespoints ls 1 title "STLB (tlb.l2), native", \
     "" using "entries":(l1miss("tlb.l1d.4k", "nested")) with linespoints ls 4 title "L1 DTLB 4K (tlb.l1d.4k), nested", \
     "" using "entries":(l1miss("tlb.l1d.4k", "native")) with linespoints ls 3 title "L1 DTLB 4K (tlb.l1d.4k), native"

set title "Translation cost (same lines as above)"
set ylabel "TLB + walk cycles per access"
unset logscale y
set yrange [0:*]
unset key
plot in using "entries":(xlat("tlb.l2", "nested")) with linespoints ls 2, \
     "" using "entries":(xlat("tlb.l2", "native")) with linespoints ls 1, \
     "" using "entries":(xlat("tlb.l1d.4k", "nested")) with linespoints ls 4, \
     "" using "entries":(xlat("tlb.l1d.4k", "native")) with linespoints ls 3

unset multiplot
