package io.megalith.core.model.seq2seq;

import ai.djl.ndarray.NDManager;
import io.megalith.core.optim.ModuleTrainer;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Trains an {@link EncoderDecoder} on a {@link Seq2SeqTask} (the built-in {@link ReverseDigitsTask} or
 * {@link TextPairsTask}) from scratch on one rank (teacher forcing,
 * {@link ModuleTrainer}) and measures exact match of greedy (or beam) decoding on held-out strings.
 */
public final class Seq2SeqTraining {
    /** What to train and how. */
    public record Settings(long seed, String task, String path, int minLen, int maxLen, double heldOutFraction,
            int nEncoderLayer,
            int nDecoderLayer, int nHead, int nEmbd, double dropout, int steps, int batchSize, ModuleTrainer.Settings optim,
            int evalEvery, int evalStrings, int beams) {}

    /** The outcome: steps run, final training loss, exact match (fraction), wall time, a few decoded samples. */
    public record Result(int steps, double lastLoss, double exactMatch, double seconds, List<String> samples,
            List<double[]> curve) {}

    private Seq2SeqTraining() {}

    /** The task the settings name: {@code reverse} (built in) or {@code pairs} (source<TAB>target lines of a file). */
    public static Seq2SeqTask task(Settings s) {
        if (s.task().equals("reverse")) {
            return new ReverseDigitsTask(s.minLen(), s.maxLen(), s.heldOutFraction(), s.seed());
        }
        if (s.task().equals("pairs")) {
            if (s.path() == null || s.path().isEmpty()) {
                throw new IllegalArgumentException("data.task pairs needs data.path");
            }
            try {
                return TextPairsTask.fromFile(Path.of(s.path()), s.heldOutFraction(), s.seed(), 0, 0);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        throw new IllegalArgumentException("unknown seq2seq task " + s.task() + " (reverse | pairs)");
    }

    public static Result run(Settings s, NDManager root, PrintStream log) {
        Seq2SeqTask task = task(s);
        EncoderDecoder model = new EncoderDecoder(task.modelConfig(s.nEncoderLayer(), s.nDecoderLayer(), s.nHead(),
                s.nEmbd(), s.dropout()));
        List<double[]> curve = new ArrayList<>();
        long start = System.nanoTime();
        try (ModuleTrainer trainer = new ModuleTrainer(model, root, s.seed(), s.optim())) {
            if (log != null) {
                log.printf("encoder-decoder: %d parameters; %s%n", trainer.store().numel(), task.describe());
            }
            double loss = 0;
            double avg = 0;
            for (int step = 0; step < s.steps(); step++) {
                Seq2SeqTask.Batch b = task.train(step, 0, s.batchSize());
                loss = trainer.step(step, ctx -> model.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(),
                        ctx));
                avg = step == 0 ? loss : 0.95 * avg + 0.05 * loss;
                boolean last = step == s.steps() - 1;
                if (s.evalEvery() > 0 && ((step + 1) % s.evalEvery() == 0 || last)) {
                    int n = task.heldOutSize(Math.min(s.evalStrings(), 500));
                    double em = exactMatch(task, model, root, n, s.beams(), null);
                    curve.add(new double[] {step + 1, avg, em});
                    if (log != null) {
                        log.printf("step %5d  loss %.4f  exact match %.1f%% (%d held out)  %.1f s%n", step + 1, avg,
                                100 * em, n, (System.nanoTime() - start) / 1e9);
                    }
                }
            }
            List<String> samples = new ArrayList<>();
            double em = exactMatch(task, model, root, task.heldOutSize(s.evalStrings()), s.beams(), samples);
            return new Result(s.steps(), avg, em, (System.nanoTime() - start) / 1e9, samples, curve);
        }
    }

    /** Fraction of the first {@code n} held-out examples whose decoded output is exactly their target. */
    public static double exactMatch(Seq2SeqTask task, EncoderDecoder model, NDManager root, int n, int beams,
            List<String> samples) {
        Seq2SeqGenerator gen = new Seq2SeqGenerator(model, root);
        int correct = 0;
        int chunk = 100;
        for (int from = 0; from < n; from += chunk) {
            Seq2SeqTask.Batch b = task.heldOut(from, Math.min(chunk, n - from));
            long[][] out;
            if (beams <= 1) {
                out = gen.greedy(b.src(), b.batch(), b.srcLen(), task.maxTargetLen());
            } else {
                Seq2SeqGenerator.Hypothesis[] h = gen.beam(b.src(), b.batch(), b.srcLen(), task.maxTargetLen(), beams, 1.0);
                out = Arrays.stream(h).map(Seq2SeqGenerator.Hypothesis::tokens).toArray(long[][]::new);
            }
            for (int i = 0; i < b.batch(); i++) {
                boolean ok = Arrays.equals(out[i], b.expected(i));
                correct += ok ? 1 : 0;
                if (samples != null && (samples.size() < 5 || (!ok && samples.size() < 10))) {
                    samples.add(task.text(b.source(i)) + " -> " + task.text(out[i]) + (ok ? "" : "  (wrong)"));
                }
            }
        }
        return n == 0 ? Double.NaN : (double) correct / n;
    }
}
