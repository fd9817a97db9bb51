package io.megalith.core.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The model is causal: the logits at position i depend on tokens 0..i only.
 *
 * <p>Weights are re-drawn large (std 0.5) so that attention is sharp and any leak through the mask
 * would move logits by far more than the tolerance.
 */
class CausalityTest {
    private static final int VOCAB = 13;
    private static final int BLOCK = 16;
    private static final int B = 2;
    private static NDManager root;
    private static ParameterStore store;
    private static Gpt gpt;

    @BeforeAll
    static void buildModel() {
        Torch.load(1);
        root = Torch.newManager();
        gpt = new Gpt(new GptConfig(VOCAB, BLOCK, 2, 2, 16, 0.0, true));
        store = new ParameterStore(gpt, root, 5);
        gpt.initConstants(root);
        Random r = new Random(3);
        FloatBuffer values = store.values();
        for (int i = 0; i < store.numel(); i++) {
            values.put(i, (float) (0.5 * r.nextGaussian()));
        }
    }

    @AfterAll
    static void close() {
        store.close();
        root.close();
    }

    /** T = BLOCK uses the whole position table; shorter sequences slice it. */
    @ParameterizedTest
    @ValueSource(ints = {BLOCK, 11})
    void futureTokensDoNotChangeEarlierLogits(int t) {
        long[] ids = randomTokens(new Random(t), t);
        float[] base = logits(ids, t);
        for (int cut : new int[] {1, 2, 5, t / 2, t - 1}) {
            long[] changed = ids.clone();
            for (int b = 0; b < B; b++) {
                for (int i = cut; i < t; i++) {
                    changed[b * t + i] = (ids[b * t + i] + 1 + i % (VOCAB - 1)) % VOCAB; // always a different token
                }
            }
            float[] other = logits(changed, t);
            for (int b = 0; b < B; b++) {
                assertThat(maxAbsDiff(base, other, b, t, 0, cut)).as("positions < %d, sequence %d", cut, b)
                        .isLessThanOrEqualTo(1e-6);
                assertThat(maxAbsDiff(base, other, b, t, cut, t)).as("control: positions >= %d changed", cut)
                        .isGreaterThan(1e-2);
            }
        }
    }

    @Test
    void earlierTokenChangesEveryLaterPosition() {
        int t = BLOCK;
        long[] ids = randomTokens(new Random(11), t);
        float[] base = logits(ids, t);
        int at = 3;
        long[] changed = ids.clone();
        changed[at] = (ids[at] + 5) % VOCAB; // sequence 0 only
        float[] other = logits(changed, t);
        assertThat(maxAbsDiff(base, other, 0, t, 0, at)).isLessThanOrEqualTo(1e-6);
        for (int i = at; i < t; i++) {
            assertThat(maxAbsDiff(base, other, 0, t, i, i + 1)).as("position %d sees token %d", i, at).isGreaterThan(1e-3);
        }
        assertThat(maxAbsDiff(base, other, 1, t, 0, t)).as("the other sequence of the batch").isLessThanOrEqualTo(1e-6);
    }

    /** Decoding one token at a time with the KV cache reproduces the full forward's logits. */
    @Test
    void incrementalDecodingWithCacheMatchesFullForward() {
        int t = 9;
        long[] ids = randomTokens(new Random(17), t);
        float[] full = logits(ids, t);
        JniUtils.setGradMode(false);
        try (KvCache cache = new KvCache(gpt.config().nLayer(), root)) {
            // a prompt of 4 positions, then single tokens
            int[] chunks = {4, 1, 1, 1, 1, 1};
            int pos = 0;
            for (int len : chunks) {
                long[] step = new long[B * len];
                for (int b = 0; b < B; b++) {
                    System.arraycopy(ids, b * t + pos, step, b * len, len);
                }
                pos += len;
                try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                    float[] last = gpt.lastLogits(Ops.longs(m, step, B, len), ForwardContext.inference(m), cache)
                            .toFloatArray();
                    assertThat(cache.length()).isEqualTo(pos);
                    for (int b = 0; b < B; b++) {
                        for (int v = 0; v < VOCAB; v++) {
                            float expected = full[(b * t + pos - 1) * VOCAB + v];
                            assertThat(last[b * VOCAB + v]).as("position %d, sequence %d", pos - 1, b)
                                    .isCloseTo(expected, Offset.offset(1e-4f * (1 + Math.abs(expected))));
                        }
                    }
                }
            }
        }
    }

    private static long[] randomTokens(Random r, int t) {
        long[] ids = new long[B * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(VOCAB);
        }
        return ids;
    }

    private static float[] logits(long[] ids, int t) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            PtNDArray out = gpt.logits(Ops.longs(m, ids, B, t), ForwardContext.inference(m));
            assertThat(out.getShape().getShape()).containsExactly(B, t, VOCAB);
            return out.toFloatArray();
        }
    }

    /** Largest |a - b| over logits of sequence b at positions [from, to). */
    private static double maxAbsDiff(float[] a, float[] c, int b, int t, int from, int to) {
        double worst = 0;
        for (int i = from; i < to; i++) {
            for (int v = 0; v < VOCAB; v++) {
                int k = (b * t + i) * VOCAB + v;
                worst = Math.max(worst, Math.abs(a[k] - c[k]));
            }
        }
        return worst;
    }
}
