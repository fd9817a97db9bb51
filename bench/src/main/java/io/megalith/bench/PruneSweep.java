package io.megalith.bench;

import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.train.report.MetricsLog;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;

/**
 * Validation loss against sparsity for a trained GPT: pruned at once by magnitude (each layer weight matrix, the same
 * cut as {@code megalith eval --prune X}, evaluated here in-process at 0, 10, ..., 90%) and pruned gradually with
 * fine-tuning (runs of conf/prune/shakespeare-prune.yaml: the final val_loss and sparsity of each run's metrics), as
 * a table and a chart:
 * <pre>
 *   java -Dquality.threads=1 -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *     io.megalith.bench.PruneSweep runs/shakespeare-teacher OUT.png runs/shakespeare-pruned-0.5 ...
 * </pre>
 * Run from the directory the teacher's data.path is relative to (the repository root).
 */
public final class PruneSweep {
    private PruneSweep() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: PruneSweep TEACHER_RUN OUT.png [PRUNED_RUN ...]");
            System.exit(2);
        }
        System.setProperty("java.awt.headless", "true");
        int threads = Integer.getInteger("quality.threads", 2);
        Configuration hadoop = new Configuration();
        TreeMap<Double, Double> oneShot = new TreeMap<>();
        for (int i = 0; i <= 9; i++) {
            double s = i / 10.0;
            try (TrainedGpt gpt = TrainedGpt.load(new RunCheckpoint(args[0], null), hadoop, threads)) {
                double reached = s == 0 ? 0 : gpt.prune(s);
                double loss = gpt.validate(gpt.config().train().evalBatches(), null).loss();
                oneShot.put(reached, loss);
                System.out.printf(Locale.ROOT, "PRUNE one-shot sparsity %.3f val_loss %.4f%n", reached, loss);
            }
        }
        TreeMap<Double, Double> gradual = new TreeMap<>();
        for (int i = 2; i < args.length; i++) {
            List<Map<String, Object>> records = MetricsLog.read(args[i], hadoop);
            Map<String, Object> last = null;
            double sparsity = 0;
            for (Map<String, Object> r : records) {
                if (r.containsKey("sparsity")) {
                    sparsity = ((Number) r.get("sparsity")).doubleValue();
                }
                if (r.containsKey("val_loss")) {
                    last = r;
                }
            }
            double loss = ((Number) last.get("val_loss")).doubleValue();
            gradual.put(sparsity, loss);
            System.out.printf(Locale.ROOT, "PRUNE gradual + fine-tune %s sparsity %.3f val_loss %.4f (step %s)%n",
                    args[i], sparsity, loss, last.get("step"));
        }
        System.out.println("| sparsity of the layer matrices | one-shot val loss | gradual + fine-tune val loss |");
        System.out.println("|---|---|---|");
        TreeMap<Double, double[]> rows = new TreeMap<>();
        oneShot.forEach((s, l) -> rows.computeIfAbsent(round(s), k -> new double[] {Double.NaN, Double.NaN})[0] = l);
        gradual.forEach((s, l) -> rows.computeIfAbsent(round(s), k -> new double[] {Double.NaN, Double.NaN})[1] = l);
        rows.forEach((s, l) -> System.out.printf(Locale.ROOT, "| %.0f%% | %s | %s |%n", 100 * s, cell(l[0]),
                cell(l[1])));
        draw(new File(args[1]), oneShot, gradual, oneShot.firstEntry().getValue());
    }

    private static double round(double s) {
        return Math.round(s * 100) / 100.0;
    }

    private static String cell(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.4f", v);
    }

    /** Two lines over sparsity 0..90%, the unpruned model's loss as a grey reference. */
    static void draw(File png, TreeMap<Double, Double> oneShot, TreeMap<Double, Double> gradual, double reference)
            throws Exception {
        int w = 800;
        int h = 500;
        int left = 70;
        int right = 25;
        int top = 40;
        int bottom = 55;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        List<Double> all = new ArrayList<>(oneShot.values());
        all.addAll(gradual.values());
        all.add(reference);
        double lo = all.stream().mapToDouble(Double::doubleValue).min().orElse(0);
        double hi = all.stream().mapToDouble(Double::doubleValue).max().orElse(1);
        hi = Math.min(hi, lo + 3 * (reference - lo) + 1.5); // a collapsed one-shot point would flatten the rest
        double pad = 0.05 * (hi - lo);
        double yLo = lo - pad;
        double yHi = hi + pad;
        int pw = w - left - right;
        int ph = h - top - bottom;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 9; i++) {
            int x = left + pw * i / 9;
            g.setColor(new Color(225, 225, 225));
            g.drawLine(x, top, x, top + ph);
            g.setColor(Color.DARK_GRAY);
            g.drawString((i * 10) + "%", x - 10, top + ph + 18);
        }
        for (int i = 0; i <= 5; i++) {
            double v = yLo + (yHi - yLo) * i / 5;
            int y = top + ph - (int) (ph * (v - yLo) / (yHi - yLo));
            g.setColor(new Color(225, 225, 225));
            g.drawLine(left, y, left + pw, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), 20, y + 4);
        }
        g.drawString("sparsity of the layer weight matrices", left + pw / 2 - 100, h - 15);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString("Shakespeare 6x256 GPT: val loss vs magnitude-pruning sparsity", left, 25);
        int refY = top + ph - (int) (ph * (reference - yLo) / (yHi - yLo));
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 6}, 0));
        g.drawLine(left, refY, left + pw, refY);
        line(g, oneShot, new Color(31, 119, 180), left, top, pw, ph, yLo, yHi);
        line(g, gradual, new Color(255, 127, 14), left, top, pw, ph, yLo, yHi);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        String[] labels = {"pruned at once (no fine-tuning)", "pruned gradually + fine-tuned (400 steps)",
            "unpruned"};
        Color[] colors = {new Color(31, 119, 180), new Color(255, 127, 14), Color.GRAY};
        for (int i = 0; i < labels.length; i++) {
            g.setColor(colors[i]);
            g.fillRect(left + 15, top + 12 + 18 * i, 20, 4);
            g.setColor(Color.DARK_GRAY);
            g.drawString(labels[i], left + 42, top + 18 + 18 * i);
        }
        ImageIO.write(img, "png", png);
    }

    private static void line(Graphics2D g, TreeMap<Double, Double> points, Color c, int left, int top, int pw, int ph,
            double yLo, double yHi) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2f));
        int[] prev = null;
        for (Map.Entry<Double, Double> e : points.entrySet()) {
            int x = left + (int) (pw * e.getKey() / 0.9);
            double v = Math.min(e.getValue(), yHi);
            int y = top + ph - (int) (ph * (v - yLo) / (yHi - yLo));
            g.fillOval(x - 4, y - 4, 8, 8);
            if (prev != null) {
                g.drawLine(prev[0], prev[1], x, y);
            }
            prev = new int[] {x, y};
        }
    }
}
