package io.megalith.core.train.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossChartTest {
    @TempDir
    Path tmp;

    private static List<Map<String, Object>> metrics(int steps, int evalEvery) {
        List<Map<String, Object>> records = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("step", (long) step);
            r.put("loss", 8.0 * Math.exp(-step / 60.0) + 2.0 + 0.1 * Math.sin(step));
            if (step % evalEvery == 0) {
                r.put("val_loss", 8.0 * Math.exp(-step / 60.0) + 2.3);
            }
            records.add(r);
        }
        return records;
    }

    private static BufferedImage readPng(Path png) throws IOException {
        byte[] bytes = Files.readAllBytes(png);
        assertThat(bytes).startsWith(0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n');
        BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image).isNotNull();
        assertThat(image.getWidth()).isEqualTo(LossChart.WIDTH);
        assertThat(image.getHeight()).isEqualTo(LossChart.HEIGHT);
        return image;
    }

    private static int pixelsOf(BufferedImage image, Color color) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                if ((image.getRGB(x, y) & 0xFFFFFF) == (color.getRGB() & 0xFFFFFF)) {
                    n++;
                }
            }
        }
        return n;
    }

    @Test
    void drawsBothCurvesOnAnOtherwiseEmptyChart() throws IOException {
        Path withData = tmp.resolve("loss.png");
        Path empty = tmp.resolve("empty.png");

        LossChart.writeFromMetrics(withData, "tiny run", metrics(300, 25));
        LossChart.write(empty, "tiny run", List.of(), List.of());
        assertThat(System.getProperty("java.awt.headless")).isEqualTo("true");

        BufferedImage drawn = readPng(withData);
        BufferedImage blank = readPng(empty);
        // A curve across the plot covers far more pixels than its legend swatch (25 and 90 pixels: measured
        // with one point per series); the empty chart has neither.
        assertThat(pixelsOf(blank, LossChart.TRAIN_COLOR)).isZero();
        assertThat(pixelsOf(drawn, LossChart.TRAIN_COLOR)).isGreaterThan(400);
        assertThat(pixelsOf(blank, LossChart.VAL_COLOR)).isZero();
        assertThat(pixelsOf(drawn, LossChart.VAL_COLOR)).isGreaterThan(300);
    }

    @Test
    void skipsNonFiniteLossesAndSupportsALogAxis() throws IOException {
        List<double[]> train = new ArrayList<>();
        for (int step = 0; step < 100; step++) {
            double loss = step == 50 ? Double.NaN : step == 60 ? Double.POSITIVE_INFINITY : 5.0 - step / 50.0;
            train.add(new double[] {step, loss});
        }
        Path png = tmp.resolve("log.png");

        LossChart.write(png, "log", train, List.of(new double[] {0, 4.0}, new double[] {99, 0.0}), true);

        assertThat(pixelsOf(readPng(png), LossChart.TRAIN_COLOR)).isGreaterThan(400);
    }

    @Test
    void writesAndReplacesLossPngInARunDirWithoutCrcFiles() throws IOException {
        String runDir = tmp.resolve("run").toUri().toString();
        Configuration conf = new Configuration();

        LossChart.writeToRunDir(runDir, conf, "first", metrics(10, 5));
        long firstSize = Files.size(tmp.resolve("run").resolve(LossChart.FILE_NAME));
        LossChart.writeToRunDir(runDir, conf, "second", metrics(300, 25));

        Path png = tmp.resolve("run").resolve(LossChart.FILE_NAME);
        assertThat(pixelsOf(readPng(png), LossChart.TRAIN_COLOR)).isGreaterThan(400);
        assertThat(Files.size(png)).isNotEqualTo(firstSize);
        try (Stream<Path> files = Files.list(tmp.resolve("run"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly(LossChart.FILE_NAME);
        }
    }

    /** A run whose loss falls 1000x (the addition job): AUTO picks the log axis; val loss is dots, not a line. */
    @Test
    void autoScaleGoesLogForLossesSpanningDecadesAndValLossIsPoints() throws IOException {
        List<double[]> train = new ArrayList<>();
        List<double[]> val = new ArrayList<>();
        for (int step = 0; step <= 750; step++) {
            double loss = 2.5 * Math.exp(-step / 100.0) + 0.0025;
            train.add(new double[] {step, loss});
            if (step % 250 == 0) {
                val.add(new double[] {step, loss * 1.1});
            }
        }
        assertThat(LossChart.logFor(train, val, LossChart.Scale.AUTO)).isTrue();
        assertThat(LossChart.logFor(List.of(new double[] {0, 4.0}, new double[] {1, 1.9}), List.of(),
                LossChart.Scale.AUTO)).isFalse();
        Path png = Path.of(System.getProperty("megalith.chart.dir", tmp.toString()), "loss-auto-log.png");
        LossChart.write(png, "addition", train, val, LossChart.Scale.AUTO);
        BufferedImage image = readPng(png);
        // four val points of ~50 px each, plus the legend's dot; a line between them would paint thousands
        assertThat(pixelsOf(image, LossChart.VAL_COLOR)).isBetween(4 * 30, 6 * 60);
        assertThat(pixelsOf(image, LossChart.TRAIN_COLOR)).isGreaterThan(400);
        LossChart.write(Path.of(png.getParent().toString(), "loss-linear.png"), "addition", train, val,
                LossChart.Scale.LINEAR);
    }

    /** writeToRunDir draws with the axis it is given (report.loss_axis): not always the one AUTO would choose. */
    @Test
    void aRunDirChartHonoursTheLossAxisItIsGiven() throws IOException {
        List<Map<String, Object>> records = new ArrayList<>();
        for (int step = 0; step <= 300; step++) { // 2.5 -> 0.0026: AUTO would choose a log axis
            records.add(Map.of("step", (long) step, "loss", 2.5 * Math.exp(-step / 50.0) + 0.0025));
        }
        List<double[]> train = LossChart.points(records, "loss");
        Configuration conf = new Configuration();
        for (LossChart.Scale scale : LossChart.Scale.values()) {
            String runDir = tmp.resolve("run-" + scale).toUri().toString();
            LossChart.writeToRunDir(runDir, conf, "run", records, scale);
            BufferedImage drawn = readPng(tmp.resolve("run-" + scale).resolve(LossChart.FILE_NAME));
            for (LossChart.Scale other : LossChart.Scale.values()) {
                boolean sameAxis = LossChart.logFor(train, List.of(), scale) == LossChart.logFor(train, List.of(), other);
                assertThat(samePixels(drawn, LossChart.render("run", train, List.of(), other)))
                        .as("%s chart drawn like a %s one", scale, other).isEqualTo(sameAxis);
            }
        }
    }

    private static boolean samePixels(BufferedImage a, BufferedImage b) {
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                if ((a.getRGB(x, y) & 0xFFFFFF) != (b.getRGB(x, y) & 0xFFFFFF)) {
                    return false;
                }
            }
        }
        return true;
    }
}
