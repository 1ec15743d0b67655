# Swap victim policies compared on one overcommit scenario, from the table the demo
# writes (out/policies.csv: one row per policy with its VMs' figures added up; columns
# policy, swapins, decompressions, swap_out, compress_out, cycles_stalled, cycles,
# accesses).
#
# usage: gnuplot -e "in='out/policies.csv'; out='out/plots/policies.png'" plots/policies.gp
#
# Three panels, one bar per policy: host faults on evicted pages (swap-ins from the device
# and decompressions from the compressed tier), pages evicted (to the device and to the
# tier), and cycles per access of all VMs (translation, faults and stalls included).
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo).

if (!exists("in")) in = "out/policies.csv"
if (!exists("out")) out = "out/plots/policies.png"

set datafile separator ","
set datafile columnheaders
if (exists("pdf")) {
	set terminal pdfcairo enhanced font "Sans,9" size 10in,3.8in
} else {
	set terminal pngcairo enhanced font "Sans,10" size 1400,520
}
set output out
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set key top left
set multiplot layout 1, 3 title "swap victim policies on the demo's overcommit scenario (vmem-host, all VMs)"
set title "host faults on evicted pages"
set ylabel "faults"
plot in using (column("swapins")):xtic(strcol("policy")) lc rgb "#d62728" title "swap-ins (device)", \
     ''  using (column("decompressions")) lc rgb "#ff7f0e" title "decompressions (tier)"
set title "pages evicted"
set ylabel "pages"
plot in using (column("swap_out")):xtic(strcol("policy")) lc rgb "#d62728" title "to the swap device", \
     ''  using (column("compress_out")) lc rgb "#ff7f0e" title "to the compressed tier"
set title "cycles per access"
set ylabel "cycles per access"
set key off
plot in using (column("cycles") / column("accesses")):xtic(strcol("policy")) lc rgb "#1f77b4" title "cycles per access"
unset multiplot
