package io.megalith.core.model.bert;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.ModuleTrainer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * BERT: attention is bidirectional (a later token changes an earlier position's output), padding keys are
 * invisible (padding more, or changing nothing but the padding length, leaves real positions unchanged), heads
 * have the right shapes, and MLM + NSP pre-training lowers the loss.
 */
class BertTest {
    static final int VOCAB = 20;
    static final long PAD = 0;
    static final long CLS = 1;
    static final long SEP = 2;
    static final long MASK = 3;
    private static NDManager root;

    @BeforeAll
    static void load() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void close() {
        root.close();
    }

    static BertConfig config(boolean preLn) {
        return BertConfig.of(VOCAB, 16, 2, 2, 16, PAD).withDropout(0).withPreLn(preLn);
    }

    /** Parameters re-drawn large (std 0.5, norms around 1) so attention is sharp and any leak is visible. */
    static ParameterStore randomStore(Module model, long seed) {
        ParameterStore store = new ParameterStore(model, root, seed);
        Random r = new Random(seed);
        FloatBuffer v = store.values();
        for (Parameter p : store.parameters()) {
            boolean norm = p.name().contains("ln") && p.name().endsWith("weight");
            for (int i = 0; i < p.numel(); i++) {
                v.put((int) p.offset() + i, (float) ((norm ? 1 : 0) + 0.5 * r.nextGaussian()));
            }
        }
        return store;
    }

    static float[] hidden(Bert bert, long[] ids, int b, int t) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray h = bert.encode(Ops.longs(m, ids, b, t), null, bert.paddingBias(m, ids, b, t), ctx);
            assertThat(h.getShape().getShape()).containsExactly(b, t, 16);
            return h.toFloatArray();
        }
    }

    static double maxDiff(float[] a, int ta, float[] c, int tc, int b, int from, int to, int width) {
        double worst = 0;
        for (int i = from; i < to; i++) {
            for (int j = 0; j < width; j++) {
                worst = Math.max(worst, Math.abs(a[(b * ta + i) * width + j] - c[(b * tc + i) * width + j]));
            }
        }
        return worst;
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void attentionIsBidirectional(boolean preLn) {
        Bert bert = new Bert(config(preLn));
        try (ParameterStore store = randomStore(bert, 3)) {
            int t = 10;
            long[] ids = new Random(5).longs(2L * t, 4, VOCAB).toArray();
            float[] base = hidden(bert, ids, 2, t);
            long[] changed = ids.clone();
            changed[8] = ids[8] == 5 ? 6 : 5; // a late token of sequence 0
            float[] other = hidden(bert, changed, 2, t);
            for (int i = 0; i < t; i++) {
                assertThat(maxDiff(base, t, other, t, 0, i, i + 1, 16)).as("position %d sees position 8", i)
                        .isGreaterThan(1e-3);
            }
            assertThat(maxDiff(base, t, other, t, 1, 0, t, 16)).as("the other sequence").isLessThanOrEqualTo(1e-6);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void paddingIsInvisible(boolean preLn) {
        Bert bert = new Bert(config(preLn));
        try (ParameterStore store = randomStore(bert, 4)) {
            // sequence 0 has 6 real tokens, sequence 1 has 9
            int[] lengths = {6, 9};
            Random r = new Random(8);
            long[][] real = new long[2][];
            for (int s = 0; s < 2; s++) {
                real[s] = r.longs(lengths[s], 4, VOCAB).toArray();
                real[s][0] = CLS;
            }
            int tShort = 9;
            int tLong = 16;
            float[] a = hidden(bert, padded(real, tShort), 2, tShort);
            float[] c = hidden(bert, padded(real, tLong), 2, tLong);
            for (int s = 0; s < 2; s++) {
                assertThat(maxDiff(a, tShort, c, tLong, s, 0, lengths[s], 16))
                        .as("sequence %d: real positions do not depend on how much padding follows", s)
                        .isLessThanOrEqualTo(2e-5);
                // alone and unpadded: the same as inside a padded batch
                float[] alone = hidden(bert, real[s], 1, lengths[s]);
                assertThat(maxDiff(alone, lengths[s], shift(c, s, tLong), tLong, 0, 0, lengths[s], 16))
                        .as("sequence %d alone vs padded in a batch", s).isLessThanOrEqualTo(2e-5);
            }
            // control: if the padding were real tokens it would change the outputs
            long[] notPad = padded(real, tLong);
            for (int i = 0; i < notPad.length; i++) {
                if (notPad[i] == PAD) {
                    notPad[i] = 7;
                }
            }
            float[] leaky = hidden(bert, notPad, 2, tLong);
            assertThat(maxDiff(leaky, tLong, c, tLong, 0, 0, lengths[0], 16)).isGreaterThan(1e-3);
        }
    }

    /** The rows of sequence s of a [B, T, C] output as a one-sequence output. */
    private static float[] shift(float[] x, int s, int t) {
        return Arrays.copyOfRange(x, s * t * 16, (s + 1) * t * 16);
    }

    static long[] padded(long[][] seqs, int t) {
        long[] out = new long[seqs.length * t];
        Arrays.fill(out, PAD);
        for (int s = 0; s < seqs.length; s++) {
            System.arraycopy(seqs[s], 0, out, s * t, seqs[s].length);
        }
        return out;
    }

    @Test
    void headShapesAndSegments() {
        Bert bert = new Bert(config(false));
        try (ParameterStore store = randomStore(bert, 6)) {
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                long[] ids = new Random(1).longs(3 * 7, 4, VOCAB).toArray();
                long[] seg0 = new long[21];
                long[] seg1 = seg0.clone();
                for (int i = 4; i < 7; i++) {
                    seg1[i] = 1; // sentence B of sequence 0
                }
                ForwardContext ctx = ForwardContext.inference(m);
                PtNDArray h0 = bert.encode(Ops.longs(m, ids, 3, 7), Ops.longs(m, seg0, 3, 7), null, ctx);
                PtNDArray hNull = bert.encode(Ops.longs(m, ids, 3, 7), null, null, ctx);
                PtNDArray h1 = bert.encode(Ops.longs(m, ids, 3, 7), Ops.longs(m, seg1, 3, 7), null, ctx);
                assertThat(h0.toFloatArray()).as("no segment ids = all segment 0").containsExactly(hNull.toFloatArray());
                assertThat(maxDiff(h0.toFloatArray(), 7, h1.toFloatArray(), 7, 0, 0, 7, 16)).isGreaterThan(1e-3);
                assertThat(bert.pooled(h0).getShape().getShape()).containsExactly(3, 16);
                float[] pooled = bert.pooled(h0).toFloatArray();
                for (float p : pooled) {
                    assertThat(Math.abs(p)).as("tanh").isLessThanOrEqualTo(1f);
                }
                assertThat(bert.mlmLogits(h0).getShape().getShape()).containsExactly(3, 7, VOCAB);
                assertThat(bert.nspLogits(bert.pooled(h0)).getShape().getShape()).containsExactly(3, 2);
            }
        }
        assertThat(bert.parameters().stream().map(Parameter::name)).contains("embeddings.word.weight",
                "embeddings.segment.weight", "layers.1.attn.qkv.weight", "pooler.dense.weight", "mlm.bias", "nsp.weight");
    }

    /** A few dozen AdamW steps of MLM + NSP on a tiny fixed corpus lower the loss well below its start. */
    @Test
    void pretrainingLowersTheLoss() {
        Bert bert = new Bert(config(false));
        MlmMasking masking = new MlmMasking(VOCAB, MASK, PAD, CLS, SEP);
        int b = 8;
        int t = 12;
        Random r = new Random(3);
        long[] ids = new long[b * t];
        long[] nsp = new long[b];
        for (int s = 0; s < b; s++) {
            // [CLS] a a a [SEP] b b b [SEP] pad..: "is next" when b continues a's counting pattern
            nsp[s] = s % 2;
            int start = 4 + r.nextInt(8);
            ids[s * t] = CLS;
            for (int i = 1; i <= 3; i++) {
                ids[s * t + i] = start + i;
            }
            ids[s * t + 4] = SEP;
            for (int i = 5; i <= 7; i++) {
                ids[s * t + i] = nsp[s] == 0 ? start + i - 1 : 4 + r.nextInt(VOCAB - 4);
            }
            ids[s * t + 8] = SEP;
        }
        long[] segments = new long[b * t];
        for (int s = 0; s < b; s++) {
            for (int i = 5; i <= 8; i++) {
                segments[s * t + i] = 1;
            }
        }
        try (ModuleTrainer trainer = new ModuleTrainer(bert, root, 1, ModuleTrainer.Settings.of(5e-3, 150))) {
            double first = 0;
            double last = 0;
            for (int step = 0; step < 150; step++) {
                MlmBatch batch = masking.batch(ids, segments, nsp, b, t, CounterRng.key(9, step));
                double loss = trainer.step(step, ctx -> bert.pretrainingLoss(batch, ctx));
                if (step < 5) {
                    first += loss / 5;
                }
                if (step >= 145) {
                    last += loss / 5;
                }
            }
            System.out.printf("MLM+NSP loss: first 5 steps %.3f, last 5 steps %.3f%n", first, last);
            assertThat(last).isLessThan(first * 0.6);
        }
    }
}
