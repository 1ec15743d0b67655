# Clustered bars of one statistic of two runs, per trace and mode (plots/compare.sh makes
# the input: lines "trace/mode valueA valueB").
if (pdf) {
	set terminal pdfcairo size 10,6 font "sans,9" noenhanced
} else {
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size 1000,600 font "sans,11" noenhanced
	} else {
		set terminal png size 1000,600 noenhanced
	}
}
set output out
set title sprintf("%s by trace and mode: %s against %s", stat, la, lb)
set ylabel stat
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border lc rgb "#404040"
set boxwidth 0.9
set xtics rotate by -30 nomirror
set grid ytics lc rgb "#dddddd"
set yrange [0:*]
set key inside left top box opaque Left reverse samplen 2 width 2
plot in using 2:xtic(1) title la lc rgb "#1f77b4", "" using 3 title lb lc rgb "#ff7f0e"
