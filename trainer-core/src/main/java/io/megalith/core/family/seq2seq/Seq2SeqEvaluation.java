package io.megalith.core.family.seq2seq;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqGenerator;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Held-out evaluation of an encoder-decoder run ({@link Seq2SeqRun}), on the leader, of a one-rank copy of the
 * gathered parameters (the tensor-parallel model's forward is the training segments, which need every rank):
 * teacher-forced {@code val_loss} on the first (up to) 100 held-out examples and greedy {@code exact_match} on
 * {@code data.eval_pairs} of them; {@link #exactMatch} also decodes by beam search.
 */
public final class Seq2SeqEvaluation {
    private Seq2SeqEvaluation() {}

    public static Map<String, Object> of(Seq2SeqConfig shape, Seq2SeqTask task, int evalPairs,
            Map<String, HostTensor> full, NDManager manager, List<String> samples) {
        Map<String, Object> rec = new LinkedHashMap<>();
        EncoderDecoder one = new EncoderDecoder(shape);
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            int n = task.heldOutSize(evalPairs);
            if (n == 0) { // pairs with nothing held out: only the training loss to show
                return rec;
            }
            Seq2SeqTask.Batch b = task.heldOut(0, Math.min(n, 100));
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                rec.put("val_loss", (double) one.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(), b.tgtLen(), b.batch(),
                        ForwardContext.inference(m)).getFloat());
            }
            rec.put("exact_match", exactMatch(task, one, manager, n, 1, samples));
        }
        return rec;
    }

    /** Exact match of a one-rank copy of {@code full} on {@code data.eval_pairs} held-out examples, as below. */
    public static double exactMatch(Seq2SeqConfig shape, Seq2SeqTask task, int evalPairs, Map<String, HostTensor> full,
            int beams, NDManager manager, List<String> samples) {
        EncoderDecoder one = new EncoderDecoder(shape);
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            return exactMatch(task, one, manager, task.heldOutSize(evalPairs), beams, samples);
        }
    }

    /**
     * Fraction of the first {@code n} held-out examples whose decoded output (greedy with {@code beams} 1, else beam
     * search, length penalty 1) is exactly their target; {@code samples}, if given, gets the first 5 and up to 5
     * wrong ones.
     */
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
