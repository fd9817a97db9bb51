package io.megalith.bench;

import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedDit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;

/**
 * How much a trained DiT's noise prediction moves with its condition, which is all classifier-free guidance can
 * amplify: for one Gaussian x at t = 900, 600, 300, the distance (L2 over the image) between the prediction under
 * the first condition and under the null condition, and under each other condition. A DiT that reads its
 * conditions moves by whole units; one that ignores them by hundredths.
 * <pre>
 *   java -cp bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt) \
 *     io.megalith.bench.ConditionSensitivity RUN STEP "a trouser to the left of a bag" "a sandal to the left of a shirt"
 *   ... ConditionSensitivity CLASS_RUN STEP 1 5 8        (a class-conditioned run: class indices)
 * </pre>
 */
public final class ConditionSensitivity {
    private ConditionSensitivity() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: ConditionSensitivity RUN STEP CONDITION [OTHER ...]");
            System.exit(2);
        }
        try (TrainedDit dit = TrainedDit.load(new RunCheckpoint(args[0], Long.parseLong(args[1])),
                new Configuration(), Integer.getInteger("quality.threads", 1))) {
            List<String> conditions = new ArrayList<>(Arrays.asList(args).subList(2, args.length));
            conditions.add(null);
            int n = conditions.size();
            var c = dit.images();
            int values = c.channels() * c.height() * c.width();
            Random r = new Random(3);
            float[] x = new float[values];
            for (int i = 0; i < values; i++) {
                x[i] = (float) r.nextGaussian();
            }
            System.out.printf("%s step %d: prediction distances from \"%s\" (L2 over %d values)%n", args[0], dit.step(),
                    args[2], values);
            for (long t : new long[] {900, 600, 300}) {
                float[][] eps = dit.predictNoise(x, t, conditions);
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "SENSITIVITY t=%d |eps| %.2f, "
                        + "to unconditional %.3f", t, distance(eps[0], null), distance(eps[0], eps[n - 1])));
                for (int i = 1; i < n - 1; i++) {
                    line.append(String.format(Locale.ROOT, ", to \"%s\" %.3f", conditions.get(i),
                            distance(eps[0], eps[i])));
                }
                System.out.println(line);
            }
        }
    }

    private static double distance(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - (b == null ? 0 : b[i]);
            s += d * d;
        }
        return Math.sqrt(s);
    }
}
