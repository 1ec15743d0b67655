# TLB miss rate against TLB size, one line per trace and mode, from the data file
# `vmem-sweep plot` writes (miss_rate.dat: a block per series, "ENTRIES PERCENT" rows, the
# mean over repetitions and the spec's other axes; blocks separated by two blank lines).
#
# usage: gnuplot -e "in='miss_rate.dat'; out='miss_rate.png'; titles='a_(native) ...'; \
#                    n=2; xlabel='tlb.l2 (entries)'" plots/sweep_miss_rate.gp
#
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo) to out instead of a PNG.

if (!exists("in")) in = "miss_rate.dat"
if (!exists("out")) out = "miss_rate.png"
if (!exists("titles")) titles = ""
if (!exists("n")) n = words(titles)
if (!exists("xlabel")) xlabel = "TLB size (entries)"
if (!exists("pdf")) pdf = 0

if (pdf) {
	set terminal pdfcairo enhanced size 6in,4in font "Sans,9"
} else {
	set terminal pngcairo enhanced size 900,600 font "Sans,10"
}
set output out
set title "TLB miss rate against TLB size" noenhanced
set xlabel xlabel noenhanced
set ylabel "TLB misses per translation (%)"
set logscale x 2
set grid
set key outside right top noenhanced
set yrange [0:*]
plot for [i = 0:n - 1] in index i using 1:2 with linespoints lw 2 pt 7 \
	title word(titles, i + 1)
