# The huge-page trade-off: translation cost against memory given back, with 4 KiB and
# 2 MiB host pages, with and without overcommit, from the table the demo writes
# (out/hugepages.csv: one row per configuration, "PAGE/MEM", with its VMs' figures added
# up; columns config, cycles, accesses, walk_refs, not_resident_mib, thp_huge, thp_splits).
#
# usage: gnuplot -e "in='out/hugepages.csv'; out='out/plots/hugepages.png'" plots/hugepages.gp
#
# Left: the machine's cycles per access (translation, faults and stalls included) and
# walk memory references per 1000 accesses (right axis). Right: guest memory that no host frame of its
# own holds at the end (swapped, compressed, shared, zero, ballooned), and the 2 MiB host
# pages split to give it back.
# Options (-e "name='value'"): pdf=1 writes a PDF (pdfcairo).

if (!exists("in")) in = "out/hugepages.csv"
if (!exists("out")) out = "out/plots/hugepages.png"

set datafile separator ","
set datafile columnheaders
if (exists("pdf")) {
	set terminal pdfcairo enhanced font "Sans,9" size 10in,4.2in
} else {
	set terminal pngcairo enhanced font "Sans,10" size 1400,560
}
set output out
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
set yrange [0:*]
set key top left
set xlabel "host page size / host memory for the VMs' pages"

set multiplot layout 1, 2 title "huge pages against overcommit: what 2 MiB host pages save in translation, and what overcommit splits (vmem-host)"
set title "translation"
set ylabel "cycles per access"
set y2label "walk memory references per 1000 accesses"
set y2tics
set y2range [0:*]
plot in using (column("cycles") / column("accesses")):xtic(strcol("config")) lc rgb "#1f77b4" title "cycles per access (left axis)", \
     ''  using (1000.0 * column("walk_refs") / column("accesses")) axes x1y2 lc rgb "#aec7e8" title "walk references per 1000 accesses (right axis)"
unset y2label
unset y2tics
set title "memory"
set ylabel "MiB; 2 MiB pages"
plot in using (column("not_resident_mib")):xtic(strcol("config")) lc rgb "#ff7f0e" title "guest memory given back (MiB)", \
     ''  using (column("thp_splits")) lc rgb "#9467bd" title "2 MiB host pages split", \
     ''  using (column("thp_huge")) lc rgb "#2ca02c" title "2 MiB host pages at the end"
unset multiplot
