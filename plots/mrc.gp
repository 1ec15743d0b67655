# Miss-ratio curves of the TLB arrays, from the CSV that `vmemsim --mrc FILE` writes
# (columns label,mode,array,page_size,sets,ways,entries,lookups,misses,miss_ratio; one
# replay gives the misses of every associativity at the configured number of sets).
#
# usage: gnuplot -e "in='out/mrc.csv'; out='out/plots/mrc.png'" plots/mrc.gp
#        optional: trace='LABEL' (default: the label of the first row; the CSV may hold
#        several traces), pdf=0 (no PDF next to the PNG)
#
# Writes OUT (PNG) and OUT with .png replaced by .pdf. One panel per array: the STLB
# (tlb.l2, 4 KiB + 2 MiB entries), the L1 data TLB for 4 KiB pages (tlb.l1d.4k) and the
# L1 instruction TLB for 4 KiB pages (tlb.l1i.4k). In each, one line per mode: misses of
# that array per lookup of that array, in percent, against its number of entries (sets x
# ways, log2 axis), for LRU replacement with every other array at its configured size.
# A lookup of the STLB is an access that missed the L1 TLB, so the STLB's ratio is the
# share of L1 misses that also miss the STLB and start a page walk. The dotted line marks
# vmemsim's default size of the array.

if (!exists("in")) in = "out/mrc.csv"
if (!exists("out")) out = "out/plots/mrc.png"
if (!exists("pdf")) pdf = 1

set datafile separator ","
set datafile columnheaders

if (!exists("trace")) {
	trace = ""
	stats in using (trace = (trace eq "" ? strcol("label") : trace), 0) nooutput
}

# y of a row of (array a, mode m) of the selected trace, else NaN (not drawn).
ratio(a, m) = (strcol("label") eq trace && strcol("array") eq a && strcol("mode") eq m) ? \
	100.0 * column("miss_ratio") : NaN
sel(a) = (strcol("label") eq trace && strcol("array") eq a) ? column("entries") : NaN
lookups(a, m) = (strcol("label") eq trace && strcol("array") eq a && strcol("mode") eq m) ? \
	column("lookups") : NaN

# Nested drawn first with large hollow markers, native on top with small filled ones,
# shadow dashed: all three stay visible where the modes agree.
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.6 dt 1   # native
set style line 2 lc rgb "#d62728" lw 2 pt 6 ps 1.2 dt 2   # nested
set style line 3 lc rgb "#2ca02c" lw 2 pt 4 ps 0.9 dt 3   # shadow

array arr[3] = ["l2", "l1d.4k", "l1i.4k"]
array name[3] = ["STLB (tlb.l2), 4 KiB + 2 MiB entries", \
		 "L1 data TLB, 4 KiB pages (tlb.l1d.4k)", \
		 "L1 instruction TLB, 4 KiB pages (tlb.l1i.4k)"]
array def[3] = [1536, 64, 128]

set logscale x 2
set format x "%g"
set format y "%g"
set grid xtics ytics lc rgb "#dddddd"
set key inside left bottom vertical box opaque spacing 1.1 samplen 3
set lmargin 12
set xlabel "entries (sets x ways, log2 scale)"
set ylabel "misses per lookup of the array (%)"

do for [fmt in (pdf ? "png pdf" : "png")] {
	if (fmt eq "png") {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1000,1200 font "sans,11" noenhanced
		} else {
			set terminal png size 1000,1200 noenhanced
		}
		set output out
	} else {
		set terminal pdfcairo size 8in,9.6in font "sans,9" noenhanced
		set output (out[strlen(out)-3:] eq ".png" ? out[1:strlen(out)-4] : out) . ".pdf"
	}
	set multiplot layout 3,1 title sprintf("TLB miss-ratio curves of %s: LRU, one replay, each array's sets fixed and\nthe other arrays at their configured sizes; the lines of modes that miss alike overlap", trace)
	do for [i = 1:3] {
		undefine STATS_*
		stats in using (sel(arr[i])) nooutput
		if (!exists("STATS_max")) {
			set title sprintf("%s: not in the CSV", name[i])
			unset arrow 1
			plot [1:2] [0:1] NaN notitle
		} else {
			xlo = STATS_min
			xhi = STATS_max
			undefine STATS_*
			stats in using (lookups(arr[i], "native")) nooutput
			n = exists("STATS_max") ? STATS_max : 0
			set title sprintf("%s, %.0f lookups (native)", name[i], n)
			set xrange [xlo:xhi]
			set yrange [0:*]
			set arrow 1 from def[i], graph 0 to def[i], graph 1 nohead dt 3 lc rgb "#888888"
			plot in using "entries":(ratio(arr[i], "nested")) with linespoints ls 2 pi 4 title "nested", \
			     "" using "entries":(ratio(arr[i], "shadow")) with linespoints ls 3 pi 4 title "shadow", \
			     "" using "entries":(ratio(arr[i], "native")) with linespoints ls 1 pi 4 title "native", \
			     NaN with lines dt 3 lc rgb "#888888" title "vmemsim default size"
		}
	}
	unset multiplot
	unset output
}
