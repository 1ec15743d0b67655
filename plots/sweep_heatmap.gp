# A statistic over two axes of a sweep as a heat map, from the data file `vmem-sweep plot`
# writes (heatmap.dat: "X-INDEX Y-INDEX VALUE" rows, the mean over every other axis,
# repetition, trace and mode; heatmap-tics.gp names the axis values at the indices).
#
# usage: gnuplot -e "in='heatmap.dat'; tics='heatmap-tics.gp'; out='heatmap.png'; \
#                    xlabel='tlb.l2'; ylabel='guest.page'; stat='cycles.per_access'; \
#                    nx=4; ny=2" plots/sweep_heatmap.gp
#
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo) to out instead of a PNG.

if (!exists("in")) in = "heatmap.dat"
if (!exists("out")) out = "heatmap.png"
if (!exists("xlabel")) xlabel = "x"
if (!exists("ylabel")) ylabel = "y"
if (!exists("stat")) stat = "cycles.per_access"
if (!exists("nx")) nx = 1
if (!exists("ny")) ny = 1
if (!exists("pdf")) pdf = 0

if (pdf) {
	set terminal pdfcairo enhanced size 6in,4.5in font "Sans,9"
} else {
	set terminal pngcairo enhanced size 900,675 font "Sans,10"
}
set output out
set title sprintf("%s by %s and %s (mean over the other axes)", stat, xlabel, ylabel) noenhanced
set xlabel xlabel noenhanced
set ylabel ylabel noenhanced
set cblabel stat noenhanced
set xrange [-0.5:nx - 0.5]
set yrange [-0.5:ny - 0.5]
set xtics noenhanced
set ytics noenhanced
if (exists("tics")) load tics
set palette rgbformulae 21,22,23
set view map
plot in using 1:2:3 with image notitle, \
	'' using 1:2:(sprintf("%.4g", $3)) with labels notitle
