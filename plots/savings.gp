# Host memory each VM gave back, by mechanism, from `vmem-host --csv` (the demo's
# out/host.csv: one row per VM with its pages by state).
#
# usage: gnuplot -e "in='out/host.csv'; out='out/plots/savings.png'" plots/savings.gp
#
# One stacked bar per VM, in MiB of guest memory that does not take a host frame of its
# own at the end of the run, bottom to top:
#   swapped     pages on the swap device
#   compressed  pages in the compressed tier (they still take their compressed bytes)
#   dedup       shared and zero pages (several pages on one frame, or on the host's zero
#               page)
#   ballooned   pages the guest's balloon gave the host
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo).

if (!exists("in")) in = "out/host.csv"
if (!exists("out")) out = "out/plots/savings.png"

set datafile separator ","
set datafile columnheaders
if (exists("pdf")) {
	set terminal pdfcairo enhanced font "Sans,9" size 7in,4.5in
} else {
	set terminal pngcairo enhanced font "Sans,10" size 1000,620
}
set output out
set title "guest memory each VM gave back, by mechanism (vmem-host, end of run)"
set ylabel "guest memory (MiB)"
set xlabel "VM (its trace)"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set key outside right top vertical Left reverse
set grid ytics
set yrange [0:*]
mib(p) = p / 256.0
base(s) = strstrt(s, "/") > 0 ? base(s[strstrt(s, "/") + 1:]) : s
short(s) = strstrt(base(s), ".") > 0 ? base(s)[1:strstrt(base(s), ".") - 1] : base(s)
plot in using (mib(column("swapped"))):xtic(sprintf("%d %s", column("vm"), short(strcol("trace")))) lc rgb "#d62728" title "swapped", \
     ''  using (mib(column("compressed"))) lc rgb "#ff7f0e" title "compressed", \
     ''  using (mib(column("shared") + column("zero"))) lc rgb "#2ca02c" title "shared or zero (dedup)", \
     ''  using (mib(column("ballooned"))) lc rgb "#9467bd" title "ballooned"
