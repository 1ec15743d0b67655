# Memory of each VM over time, stacked by page state, from the time series that
# `vmem-host --series` writes (columns time_ms, vm, untouched, resident, shared, zero,
# swapped, compressed, ballooned, ...; the demo's out/host-series.csv).
#
# usage: gnuplot -e "in='out/host-series.csv'; out='out/plots/host_memory.png'" \
#                plots/host_memory.gp
#
# One panel per VM (up to 8), the VMs' pages in MiB against simulated time in ms, stacked
# bottom to top: resident (a host frame of its own), shared (one frame for several pages,
# dedup), zero (the host's zero page), compressed (in the compressed tier), swapped (on the
# swap device), ballooned (given back by the guest's balloon). Only resident and a share of
# the shared and compressed pages take host memory; the stack is what the VM has touched.
# A line marks the host's free memory (MiB) for reference.
#
# Options (-e "name='value'"): title='...' a title line; pdf=1 writes a PDF (pdfcairo).

if (!exists("in")) in = "out/host-series.csv"
if (!exists("out")) out = "out/plots/host_memory.png"
if (!exists("title")) title = "memory of each VM by page state (vmem-host)"

set datafile separator ","
if (exists("pdf")) {
	set terminal pdfcairo enhanced font "Sans,9" size 10in,6.5in
} else {
	set terminal pngcairo enhanced font "Sans,10" size 1400,900
}
set output out

# The VMs, from the file (column 2 of the rows).
stats in using 2 nooutput
nvms = int(STATS_max) + 1
if (nvms > 8) nvms = 8
cols = nvms > 1 ? 2 : 1
rows = int((nvms + cols - 1) / cols)

mib(p) = p / 256.0
vm_rows(v) = sprintf("< awk -F, 'NR > 1 && $2 == %d' '%s'", v, in)

set multiplot layout rows, cols title title
set xlabel "simulated time (ms)"
set ylabel "guest memory (MiB)"
set key outside right top vertical Left reverse samplen 1.5 font ",8"
set grid ytics
set style fill solid 0.85 noborder
do for [v = 0:nvms - 1] {
	set title sprintf("VM %d", v)
	# Each curve is the running sum up to its state, filled down to zero; drawn top
	# first, so each lower state paints over the part of the area that is its own.
	plot vm_rows(v) using 1:(mib($4 + $5 + $6 + $8 + $7 + $9)) with filledcurves x1 lc rgb "#9467bd" title "ballooned", \
	     ''         using 1:(mib($4 + $5 + $6 + $8 + $7)) with filledcurves x1 lc rgb "#d62728" title "swapped", \
	     ''         using 1:(mib($4 + $5 + $6 + $8)) with filledcurves x1 lc rgb "#ff7f0e" title "compressed", \
	     ''         using 1:(mib($4 + $5 + $6)) with filledcurves x1 lc rgb "#bcbd22" title "zero page", \
	     ''         using 1:(mib($4 + $5)) with filledcurves x1 lc rgb "#2ca02c" title "shared (dedup)", \
	     ''         using 1:(mib($4)) with filledcurves x1 lc rgb "#1f77b4" title "resident", \
	     ''         using 1:(mib($23)) with lines lw 1.5 dt 2 lc rgb "black" title "host free"
}
unset multiplot
