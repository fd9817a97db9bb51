package io.megalith.core.train.report;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Tick values of a chart axis: round numbers (1, 2 or 5 times a power of ten; on a log axis, powers of ten with
 * 2 and 5 between them while few decades are shown), the axis range widened to the outer ticks, and as many
 * ticks as fit without their labels overlapping.
 *
 * @param values ascending; the axis spans the first to the last
 * @param labels one per value
 */
public record AxisTicks(List<Double> values, List<String> labels, boolean log) {
    /** Pixels kept free between two neighbouring labels. */
    static final int LABEL_GAP = 12;

    public double min() {
        return values.get(0);
    }

    public double max() {
        return values.get(values.size() - 1);
    }

    /**
     * The most ticks (up to {@code maxTicks}) over {@code [lo, hi]} whose labels, measured by {@code labelPixels},
     * fit along {@code axisPixels} with {@link #LABEL_GAP} between neighbours.
     */
    public static AxisTicks fit(double lo, double hi, boolean log, int axisPixels, int maxTicks,
            ToIntFunction<String> labelPixels) {
        AxisTicks best = null;
        for (int n = maxTicks; n >= 2; n--) {
            AxisTicks t = log ? log(lo, hi, n) : linear(lo, hi, n);
            best = t;
            if (fits(t, axisPixels, labelPixels)) {
                return t;
            }
        }
        return best;
    }

    /** Whether no two neighbouring labels overlap when centred on their ticks. */
    static boolean fits(AxisTicks t, int axisPixels, ToIntFunction<String> labelPixels) {
        for (int i = 1; i < t.values.size(); i++) {
            double gap = t.position(t.values.get(i), axisPixels) - t.position(t.values.get(i - 1), axisPixels);
            double needed = (labelPixels.applyAsInt(t.labels.get(i)) + labelPixels.applyAsInt(t.labels.get(i - 1)))
                    / 2.0 + LABEL_GAP;
            if (gap < needed) {
                return false;
            }
        }
        return true;
    }

    /** Pixel offset of {@code v} from the axis start. */
    public double position(double v, int axisPixels) {
        double a = log ? Math.log10(min()) : min();
        double b = log ? Math.log10(max()) : max();
        double x = log ? Math.log10(v) : v;
        return (x - a) / (b - a) * axisPixels;
    }

    /** At most {@code maxTicks} ticks, a round step apart, from a multiple of it at or below {@code lo} to {@code hi}. */
    public static AxisTicks linear(double lo, double hi, int maxTicks) {
        if (!(hi > lo)) { // one value, or none: a unit around it
            double c = Double.isFinite(lo) ? lo : 0;
            lo = c - 0.5;
            hi = c + 0.5;
        }
        double step = niceStep((hi - lo) / Math.max(1, maxTicks - 1));
        while (Math.ceil(hi / step - 1e-9) - Math.floor(lo / step + 1e-9) + 1 > maxTicks) {
            step = niceStep(step * 1.0001);
        }
        long first = (long) Math.floor(lo / step + 1e-9);
        long last = (long) Math.ceil(hi / step - 1e-9);
        List<Double> values = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (long i = first; i <= last; i++) {
            double v = round(i * step);
            values.add(v);
            labels.add(label(v));
        }
        return new AxisTicks(values, labels, false);
    }

    /**
     * Ticks of a log axis over {@code [lo, hi]} (both {@code > 0}): 1-2-5 per decade while they fit in
     * {@code maxTicks}, else every decade, else every k-th decade.
     */
    public static AxisTicks log(double lo, double hi, int maxTicks) {
        int d0 = (int) Math.floor(Math.log10(lo) + 1e-9);
        int d1 = (int) Math.ceil(Math.log10(hi) - 1e-9);
        if (d1 == d0) {
            d1++;
        }
        for (double[] mantissas : new double[][] {{1, 2, 5}, {1, 3}, {1}}) {
            List<Double> v = new ArrayList<>();
            for (int d = d0; d <= d1; d++) {
                for (double m : mantissas) {
                    v.add(round(m * Math.pow(10, d)));
                }
            }
            // the narrowest span of these ticks that covers [lo, hi]
            int from = 0;
            while (from + 1 < v.size() && v.get(from + 1) <= lo * (1 + 1e-9)) {
                from++;
            }
            int to = v.size() - 1;
            while (to - 1 > from && v.get(to - 1) >= hi * (1 - 1e-9)) {
                to--;
            }
            List<Double> span = v.subList(from, to + 1);
            if (span.size() <= maxTicks) {
                return new AxisTicks(List.copyOf(span), span.stream().map(AxisTicks::label).toList(), true);
            }
        }
        // every k-th decade, from a multiple of k at or below lo to one at or above hi
        int every = Math.max(1, (int) Math.ceil((d1 - d0) / (double) Math.max(1, maxTicks - 1)));
        while (Math.floorDiv(d1 + every - 1, every) - Math.floorDiv(d0, every) + 1 > maxTicks) {
            every++;
        }
        List<Double> values = new ArrayList<>();
        for (int d = Math.floorDiv(d0, every) * every; d < d1 + every; d += every) {
            values.add(round(Math.pow(10, d)));
        }
        return new AxisTicks(values, values.stream().map(AxisTicks::label).toList(), true);
    }

    /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
    static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= raw * (1 - 1e-9)) {
                return round(m * p);
            }
        }
        return round(10 * p);
    }

    /** The shortest exact text of a round value: "0.002", "2.5", "170000"; "1e-05" style only below 0.001. */
    static String label(double v) {
        if (v == 0) {
            return "0";
        }
        double a = Math.abs(v);
        if (a < 1e-3 || a >= 1e9) {
            BigDecimal b = new BigDecimal(Double.toString(v)).stripTrailingZeros();
            int exp = b.precision() - b.scale() - 1;
            String mant = b.movePointLeft(exp).stripTrailingZeros().toPlainString();
            return mant + "e" + exp;
        }
        return new BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
    }

    /** Removes the binary noise of {@code i * step} (0.30000000000000004 -> 0.3). */
    private static double round(double v) {
        return v == 0 ? 0 : new BigDecimal(v).round(new MathContext(12)).doubleValue();
    }
}
