package io.megalith.core.train.report;

import io.megalith.core.fs.RunDirFs;

import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Renders train and validation loss against step as an 800x500 PNG with XChart: train loss as a plain line, val
 * loss as a line with markers (it has few points). Works without a display.
 */
public final class LossChart {
    public static final int WIDTH = 800;
    public static final int HEIGHT = 500;
    public static final String FILE_NAME = "loss.png";

    // Fixed rather than XChart's theme defaults, so the curves are recognizable (and testable) by colour.
    static final Color TRAIN_COLOR = new Color(31, 119, 180);
    static final Color VAL_COLOR = new Color(255, 127, 14);

    static {
        // Must be set before AWT initializes; training nodes and CI have no display.
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private LossChart() {}

    /** Writes the chart with a linear y axis. Points are {step, loss}; non-finite losses are left out. */
    public static void write(Path png, String title, List<double[]> train, List<double[]> val) throws IOException {
        write(png, title, train, val, false);
    }

    /** Writes the chart, with a logarithmic y axis if {@code logY} (then non-positive losses are left out too). */
    public static void write(Path png, String title, List<double[]> train, List<double[]> val, boolean logY)
            throws IOException {
        XYChart chart = new XYChartBuilder()
                .width(WIDTH).height(HEIGHT).title(title).xAxisTitle("step").yAxisTitle("loss").build();
        chart.getStyler().setYAxisLogarithmic(logY);
        chart.getStyler().setXAxisDecimalPattern("#"); // steps are integers: "170000", not "1.7E5"
        addSeries(chart, "train loss", train, logY, TRAIN_COLOR, false);
        addSeries(chart, "val loss", val, logY, VAL_COLOR, true);
        // To a stream: the String overload would append ".png" to a name not ending in it.
        try (OutputStream out = Files.newOutputStream(png)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapFormat.PNG);
        }
    }

    /** Writes the chart from metrics records, taking {@code step} with {@code loss} and/or {@code val_loss}. */
    public static void writeFromMetrics(Path png, String title, List<Map<String, Object>> records)
            throws IOException {
        write(png, title, points(records, "loss"), points(records, "val_loss"));
    }

    /**
     * Writes the chart to {@code <runDir>/loss.png} on any Hadoop file system, replacing an existing chart
     * atomically so that a viewer never sees half a PNG.
     */
    public static void writeToRunDir(String runDir, Configuration conf, String title,
            List<Map<String, Object>> records) throws IOException {
        RunDirFs run = RunDirFs.of(runDir, conf);
        Path local = Files.createTempFile("loss", ".png");
        try {
            writeFromMetrics(local, title, records);
            run.fs().mkdirs(run.dir());
            org.apache.hadoop.fs.Path tmp = run.file(FILE_NAME + ".tmp");
            try (FSDataOutputStream out = run.fs().create(tmp, true)) {
                Files.copy(local, out);
            }
            run.replace(tmp, run.file(FILE_NAME));
        } finally {
            Files.deleteIfExists(local);
        }
    }

    static List<double[]> points(List<Map<String, Object>> records, String key) {
        List<double[]> points = new ArrayList<>();
        for (Map<String, Object> r : records) {
            if (r.get("step") instanceof Number step && r.get(key) instanceof Number value) {
                points.add(new double[] {step.doubleValue(), value.doubleValue()});
            }
        }
        return points;
    }

    private static void addSeries(XYChart chart, String name, List<double[]> points, boolean logY, Color color,
            boolean markers) {
        // A NaN or infinite loss (a diverged step) would wreck the axis range; a log axis cannot show <= 0.
        List<Double> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        for (double[] p : points) {
            if (Double.isFinite(p[0]) && Double.isFinite(p[1]) && (!logY || p[1] > 0)) {
                x.add(p[0]);
                y.add(p[1]);
            }
        }
        if (x.isEmpty()) {
            return; // XChart rejects a series without data
        }
        XYSeries series = chart.addSeries(name, x, y);
        series.setLineColor(color);
        series.setMarkerColor(color);
        series.setMarker(markers ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
    }
}
