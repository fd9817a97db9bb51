package io.megalith.core.train.report;

import io.megalith.core.fs.RunDirFs;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;

/**
 * Renders train and validation loss against step as an 800x500 PNG, drawn with Java2D (so the ticks are ours:
 * round values, labels that never overlap): train loss as a line, val loss as points only, since nothing was
 * measured between two evaluations. The loss axis is logarithmic when the losses span
 * {@link #LOG_WHEN_DECADES} decades or more ({@link Scale#AUTO}), where a linear axis would flatten everything
 * after the first drop; {@code report.loss_axis} chooses it for a run. Works without a display.
 */
public final class LossChart {
    public static final int WIDTH = 800;
    public static final int HEIGHT = 500;
    public static final String FILE_NAME = "loss.png";
    /** Losses spanning this many decades (max / min >= 10^1.5, about 32x) get a log axis under {@link Scale#AUTO}. */
    public static final double LOG_WHEN_DECADES = 1.5;

    /** The loss axis. */
    public enum Scale { AUTO, LINEAR, LOG }

    // Fixed rather than theme defaults, so the curves are recognizable (and testable) by colour.
    static final Color TRAIN_COLOR = new Color(31, 119, 180);
    static final Color VAL_COLOR = new Color(255, 127, 14);
    private static final Color GRID = new Color(225, 225, 225);
    private static final Color TEXT = new Color(40, 40, 40);
    private static final int LEFT = 70;
    private static final int RIGHT = 25;
    private static final int TOP = 40;
    private static final int BOTTOM = 55;

    static {
        // Must be set before AWT initializes; training nodes and CI have no display.
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private LossChart() {}

    /** Writes the chart with a linear y axis. Points are {step, loss}; non-finite losses are left out. */
    public static void write(Path png, String title, List<double[]> train, List<double[]> val) throws IOException {
        write(png, title, train, val, Scale.LINEAR);
    }

    /** Writes the chart, with a logarithmic y axis if {@code logY} (then non-positive losses are left out too). */
    public static void write(Path png, String title, List<double[]> train, List<double[]> val, boolean logY)
            throws IOException {
        write(png, title, train, val, logY ? Scale.LOG : Scale.LINEAR);
    }

    /** Writes the chart with the given loss axis ({@link Scale#AUTO}: log when the losses span decades). */
    public static void write(Path png, String title, List<double[]> train, List<double[]> val, Scale scale)
            throws IOException {
        BufferedImage image = render(title, train, val, scale);
        // To a stream: no extension games, and the file is only ever written whole by the caller's rename.
        try (OutputStream out = Files.newOutputStream(png)) {
            ImageIO.write(image, "png", out);
        }
    }

    /** Whether {@link Scale#AUTO} chooses a log axis for these losses. */
    static boolean logFor(List<double[]> train, List<double[]> val, Scale scale) {
        if (scale != Scale.AUTO) {
            return scale == Scale.LOG;
        }
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (List<double[]> series : List.of(train, val)) {
            for (double[] p : series) {
                if (Double.isFinite(p[1]) && p[1] > 0) {
                    lo = Math.min(lo, p[1]);
                    hi = Math.max(hi, p[1]);
                }
            }
        }
        return hi > 0 && Math.log10(hi / lo) >= LOG_WHEN_DECADES;
    }

    static BufferedImage render(String title, List<double[]> trainPoints, List<double[]> valPoints, Scale scale) {
        boolean log = logFor(trainPoints, valPoints, scale);
        List<double[]> train = finite(trainPoints, log);
        List<double[]> val = finite(valPoints, log);
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            FontMetrics fm = g.getFontMetrics();
            int plotW = WIDTH - LEFT - RIGHT;
            int plotH = HEIGHT - TOP - BOTTOM;

            double[] xr = range(train, val, 0, false);
            double[] yr = range(train, val, 1, log);
            AxisTicks xt = AxisTicks.fit(xr[0], xr[1], false, plotW, 10, fm::stringWidth);
            // vertical labels are one line high each: their height is what must not overlap
            AxisTicks yt = AxisTicks.fit(yr[0], yr[1], log, plotH, 10, s -> fm.getHeight());

            drawTitles(g, title, log);
            for (int i = 0; i < xt.values().size(); i++) {
                int x = LEFT + (int) Math.round(xt.position(xt.values().get(i), plotW));
                g.setColor(GRID);
                g.drawLine(x, TOP, x, TOP + plotH);
                g.setColor(TEXT);
                String l = xt.labels().get(i);
                g.drawString(l, x - fm.stringWidth(l) / 2, TOP + plotH + 6 + fm.getAscent());
            }
            for (int i = 0; i < yt.values().size(); i++) {
                int y = TOP + plotH - (int) Math.round(yt.position(yt.values().get(i), plotH));
                g.setColor(GRID);
                g.drawLine(LEFT, y, LEFT + plotW, y);
                g.setColor(TEXT);
                String l = yt.labels().get(i);
                g.drawString(l, LEFT - 6 - fm.stringWidth(l), y + fm.getAscent() / 2 - 1);
            }
            g.setColor(Color.GRAY);
            g.drawRect(LEFT, TOP, plotW, plotH);

            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setClip(LEFT, TOP, plotW + 1, plotH + 1);
            g.setColor(TRAIN_COLOR);
            g.setStroke(new BasicStroke(2f));
            Path2D.Double line = new Path2D.Double();
            for (int i = 0; i < train.size(); i++) {
                double x = LEFT + xt.position(train.get(i)[0], plotW);
                double y = TOP + plotH - yt.position(train.get(i)[1], plotH);
                if (i == 0) {
                    line.moveTo(x, y);
                } else {
                    line.lineTo(x, y);
                }
            }
            g.draw(line);
            g.setColor(VAL_COLOR);
            for (double[] p : val) {
                dot(g, LEFT + xt.position(p[0], plotW), TOP + plotH - yt.position(p[1], plotH));
            }
            g.setClip(null);
            drawLegend(g, fm, !train.isEmpty(), !val.isEmpty());
        } finally {
            g.dispose();
        }
        return image;
    }

    private static void dot(Graphics2D g, double x, double y) {
        g.fill(new Ellipse2D.Double(x - 4, y - 4, 8, 8));
    }

    private static void drawTitles(Graphics2D g, String title, boolean log) {
        g.setColor(TEXT);
        Font base = g.getFont();
        g.setFont(base.deriveFont(Font.BOLD, 14f));
        FontMetrics tf = g.getFontMetrics();
        g.drawString(title, (WIDTH - tf.stringWidth(title)) / 2, 24);
        g.setFont(base);
        FontMetrics fm = g.getFontMetrics();
        g.drawString("step", LEFT + (WIDTH - LEFT - RIGHT - fm.stringWidth("step")) / 2, HEIGHT - 12);
        String y = log ? "loss (log scale)" : "loss";
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(y, -(TOP + (HEIGHT - TOP - BOTTOM + fm.stringWidth(y)) / 2), 18);
        g.setTransform(saved);
    }

    private static void drawLegend(Graphics2D g, FontMetrics fm, boolean train, boolean val) {
        if (!train && !val) {
            return;
        }
        int w = 30 + fm.stringWidth("train loss") + 10;
        int h = (train && val ? 2 : 1) * (fm.getHeight() + 4) + 6;
        int x = WIDTH - RIGHT - w - 8;
        int y = TOP + 8;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(x, y, w, h);
        g.setColor(Color.LIGHT_GRAY);
        g.drawRect(x, y, w, h);
        int row = y + 4 + fm.getAscent();
        if (train) {
            g.setColor(TRAIN_COLOR);
            g.drawLine(x + 6, row - fm.getAscent() / 2 + 1, x + 24, row - fm.getAscent() / 2 + 1);
            g.setColor(TEXT);
            g.drawString("train loss", x + 30, row);
            row += fm.getHeight() + 4;
        }
        if (val) {
            g.setColor(VAL_COLOR);
            dot(g, x + 15, row - fm.getAscent() / 2.0 + 1);
            g.setColor(TEXT);
            g.drawString("val loss", x + 30, row);
        }
    }

    /** The finite points (and on a log axis the positive ones): a diverged step would wreck the range. */
    private static List<double[]> finite(List<double[]> points, boolean log) {
        List<double[]> out = new ArrayList<>();
        for (double[] p : points) {
            if (Double.isFinite(p[0]) && Double.isFinite(p[1]) && (!log || p[1] > 0)) {
                out.add(p);
            }
        }
        return out;
    }

    /** [min, max] of coordinate {@code k} over both series; a default when there is nothing to show. */
    private static double[] range(List<double[]> a, List<double[]> b, int k, boolean log) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (List<double[]> s : List.of(a, b)) {
            for (double[] p : s) {
                lo = Math.min(lo, p[k]);
                hi = Math.max(hi, p[k]);
            }
        }
        if (lo > hi) {
            return log ? new double[] {0.1, 10} : new double[] {0, 1};
        }
        if (log && hi == lo) {
            return new double[] {lo / 2, hi * 2};
        }
        return new double[] {lo, hi};
    }

    /** Writes the chart from metrics records, taking {@code step} with {@code loss} and/or {@code val_loss}. */
    public static void writeFromMetrics(Path png, String title, List<Map<String, Object>> records)
            throws IOException {
        writeFromMetrics(png, title, records, Scale.AUTO);
    }

    /** Writes the chart from metrics records with the given loss axis. */
    public static void writeFromMetrics(Path png, String title, List<Map<String, Object>> records, Scale scale)
            throws IOException {
        write(png, title, points(records, "loss"), points(records, "val_loss"), scale);
    }

    /** {@link #writeToRunDir(String, Configuration, String, List, Scale)} with the loss axis chosen by the losses. */
    public static void writeToRunDir(String runDir, Configuration conf, String title,
            List<Map<String, Object>> records) throws IOException {
        writeToRunDir(runDir, conf, title, records, Scale.AUTO);
    }

    /**
     * Writes the chart to {@code <runDir>/loss.png} on any Hadoop file system, replacing an existing chart
     * atomically so that a viewer never sees half a PNG.
     */
    public static void writeToRunDir(String runDir, Configuration conf, String title,
            List<Map<String, Object>> records, Scale scale) throws IOException {
        RunDirFs run = RunDirFs.of(runDir, conf);
        Path local = Files.createTempFile("loss", ".png");
        try {
            writeFromMetrics(local, title, records, scale);
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
}
