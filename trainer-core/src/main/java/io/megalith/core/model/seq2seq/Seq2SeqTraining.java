package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import io.megalith.core.train.ModuleTrainer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Trains an {@link EncoderDecoder} on the {@link ReverseDigitsTask} from scratch on one rank (teacher forcing,
 * {@link ModuleTrainer}) and measures exact match of greedy (or beam) decoding on held-out strings.
 */
public final class Seq2SeqTraining {
    /** What to train and how. */
    public record Settings(long seed, int minLen, int maxLen, double heldOutFraction, int nEncoderLayer,
            int nDecoderLayer, int nHead, int nEmbd, double dropout, int steps, int batchSize, ModuleTrainer.Settings optim,
            int evalEvery, int evalStrings, int beams) {}

    /** The outcome: steps run, final training loss, exact match (fraction), wall time, a few decoded samples. */
    public record Result(int steps, double lastLoss, double exactMatch, double seconds, List<String> samples,
            List<double[]> curve) {}

    private Seq2SeqTraining() {}

    public static Result run(Settings s, NDManager root, PrintStream log) {
        ReverseDigitsTask task = new ReverseDigitsTask(s.minLen(), s.maxLen(), s.heldOutFraction(), s.seed());
        EncoderDecoder model = new EncoderDecoder(task.modelConfig(s.nEncoderLayer(), s.nDecoderLayer(), s.nHead(),
                s.nEmbd(), s.dropout()));
        List<double[]> curve = new ArrayList<>();
        long start = System.nanoTime();
        try (ModuleTrainer trainer = new ModuleTrainer(model, root, s.seed(), s.optim())) {
            if (log != null) {
                log.printf("encoder-decoder: %d parameters; reverse %d-%d digits, %.0f%% of strings held out%n",
                        trainer.store().numel(), s.minLen(), s.maxLen(), 100 * s.heldOutFraction());
            }
            double loss = 0;
            double avg = 0;
            for (int step = 0; step < s.steps(); step++) {
                ReverseDigitsTask.Batch b = task.train(step, 0, s.batchSize());
                loss = trainer.step(step, ctx -> model.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(),
                        ctx));
                avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
                boolean last = step == s.steps() - 1;
                if (s.evalEvery() > 0 && ((step + 1) % s.evalEvery() == 0 || last)) {
                    double em = exactMatch(task, model, root, Math.min(s.evalStrings(), 500), s.beams(), null);
                    curve.add(new double[] {step + 1, avg, em});
                    if (log != null) {
                        log.printf("step %5d  loss %.4f  exact match %.1f%% (%d held-out strings)  %.1f s%n", step + 1, avg,
                                100 * em, Math.min(s.evalStrings(), 500), (System.nanoTime() - start) / 1e9);
                    }
                }
            }
            List<String> samples = new ArrayList<>();
            double em = exactMatch(task, model, root, s.evalStrings(), s.beams(), samples);
            return new Result(s.steps(), avg, em, (System.nanoTime() - start) / 1e9, samples, curve);
        }
    }

    /** Fraction of the first {@code n} held-out strings whose decoded output is exactly their reverse. */
    public static double exactMatch(ReverseDigitsTask task, EncoderDecoder model, NDManager root, int n, int beams,
            List<String> samples) {
        int[][] strings = task.heldOut(n);
        Seq2SeqGenerator gen = new Seq2SeqGenerator(model, root);
        int correct = 0;
        int chunk = 100;
        for (int from = 0; from < n; from += chunk) {
            int[][] part = Arrays.copyOfRange(strings, from, Math.min(n, from + chunk));
            ReverseDigitsTask.Batch b = task.batch(part);
            long[][] out;
            if (beams <= 1) {
                out = gen.greedy(b.src(), b.batch(), b.srcLen(), task.maxLen() + 1);
            } else {
                Seq2SeqGenerator.Hypothesis[] h = gen.beam(b.src(), b.batch(), b.srcLen(), task.maxLen() + 1, beams, 1.0);
                out = Arrays.stream(h).map(Seq2SeqGenerator.Hypothesis::tokens).toArray(long[][]::new);
            }
            for (int i = 0; i < part.length; i++) {
                int[] got = ReverseDigitsTask.digits(out[i]);
                int[] want = ReverseDigitsTask.reversed(part[i]);
                boolean ok = Arrays.equals(got, want);
                correct += ok ? 1 : 0;
                if (samples != null && (samples.size() < 5 || (!ok && samples.size() < 10))) {
                    samples.add(ReverseDigitsTask.text(part[i]) + " -> " + ReverseDigitsTask.text(got) + (ok ? "" : "  (wrong)"));
                }
            }
        }
        return (double) correct / n;
    }
}
