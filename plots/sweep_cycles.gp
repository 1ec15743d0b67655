# Cycles per memory access by translation mode, a cluster of bars per trace, from the data
# file `vmem-sweep plot` writes (cycles_by_mode.dat: a header "trace MODE...", then one row
# per trace with the mean cycles.per_access of each mode over every other axis).
#
# usage: gnuplot -e "in='cycles_by_mode.dat'; out='cycles_by_mode.png'; n=2" \
#                plots/sweep_cycles.gp
#
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo) to out instead of a PNG.

if (!exists("in")) in = "cycles_by_mode.dat"
if (!exists("out")) out = "cycles_by_mode.png"
if (!exists("n")) n = 3
if (!exists("pdf")) pdf = 0

if (pdf) {
	set terminal pdfcairo enhanced size 6in,4in font "Sans,9"
} else {
	set terminal pngcairo enhanced size 900,600 font "Sans,10"
}
set output out
set title "Cycles per memory access by translation mode" noenhanced
set ylabel "cycles per access (cycles.per\\_access)"
set xlabel "trace"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key outside right top noenhanced
set xtics noenhanced rotate by -20
plot for [i = 2:n + 1] in using i:xtic(1) title columnheader(i)
