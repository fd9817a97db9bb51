package io.megalith.core.model.seq2seq;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.AttentionMask;
import io.megalith.core.model.transformer.LayerSpec;
import io.megalith.core.model.transformer.MultiHeadAttention;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The encoder-decoder: the decoder is causal while the encoder is not, source padding is invisible to both
 * sides, cross-attention has the right shapes and its gradients reach the encoder (checked against finite
 * differences), and cached incremental decoding, greedy and beam search agree with full recomputation.
 */
class EncoderDecoderTest {
    static final int VOCAB = 15;
    static final long PAD = 0;
    static final long BOS = 1;
    static final long EOS = 2;
    private static NDManager root;
    private static EncoderDecoder model;
    private static ParameterStore store;

    @BeforeAll
    static void build() {
        Torch.load(1);
        root = Torch.newManager();
        model = new EncoderDecoder(config());
        store = randomStore(model, 11, 0.5);
    }

    @AfterAll
    static void close() {
        store.close();
        root.close();
    }

    static Seq2SeqConfig config() {
        return new Seq2SeqConfig(VOCAB, 12, 10, 2, 2, 2, 16, 0.0, true, PAD, BOS, EOS, LoraConfig.NONE);
    }

    static ParameterStore randomStore(Module m, long seed, double std) {
        ParameterStore s = new ParameterStore(m, root, seed);
        Random r = new Random(seed);
        FloatBuffer v = s.values();
        for (Parameter p : s.parameters()) {
            boolean norm = p.name().contains("ln") && p.name().endsWith("weight");
            for (int i = 0; i < p.numel(); i++) {
                v.put((int) p.offset() + i, (float) ((norm ? 1 : 0) + std * r.nextGaussian()));
            }
        }
        return s;
    }

    /** Decoder logits [B, T, V] (full, no cache) as a host array. */
    static float[] logits(long[] src, int s, long[] tgt, int t, int b) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray bias = model.sourceBias(m, src, b, s);
            PtNDArray memory = model.encode(Ops.longs(m, src, b, s), bias, ctx);
            assertThat(memory.getShape().getShape()).containsExactly(b, s, 16);
            PtNDArray out = model.decode(Ops.longs(m, tgt, b, t), memory, bias, ctx, null);
            assertThat(out.getShape().getShape()).containsExactly(b, t, VOCAB);
            return out.toFloatArray();
        }
    }

    static double maxDiff(float[] a, int ta, float[] c, int tc, int b, int from, int to) {
        double worst = 0;
        for (int i = from; i < to; i++) {
            for (int j = 0; j < VOCAB; j++) {
                worst = Math.max(worst, Math.abs(a[(b * ta + i) * VOCAB + j] - c[(b * tc + i) * VOCAB + j]));
            }
        }
        return worst;
    }

    static long[] tokens(Random r, int n) {
        return r.longs(n, 3, VOCAB).toArray();
    }

    @Test
    void decoderIsCausalAndSeesTheWholeSource() {
        Random r = new Random(1);
        int s = 7;
        int t = 8;
        long[] src = tokens(r, 2 * s);
        long[] tgt = tokens(r, 2 * t);
        tgt[0] = BOS;
        tgt[t] = BOS;
        float[] base = logits(src, s, tgt, t, 2);
        for (int cut : new int[] {1, 4, 7}) {
            long[] changed = tgt.clone();
            for (int i = cut; i < t; i++) {
                changed[i] = 3 + (tgt[i] - 3 + 1) % (VOCAB - 3);
            }
            float[] other = logits(src, s, changed, t, 2);
            assertThat(maxDiff(base, t, other, t, 0, 0, cut)).as("decoder positions < %d", cut).isLessThanOrEqualTo(1e-6);
            assertThat(maxDiff(base, t, other, t, 0, cut, t)).as("control: positions >= %d", cut).isGreaterThan(1e-3);
        }
        // the last source token (a "future" position for nobody: the encoder is bidirectional) moves every output
        long[] src2 = src.clone();
        src2[s - 1] = 3 + (src[s - 1] - 3 + 1) % (VOCAB - 3);
        float[] other = logits(src2, s, tgt, t, 2);
        for (int i = 0; i < t; i++) {
            assertThat(maxDiff(base, t, other, t, 0, i, i + 1)).as("decoder position %d sees the whole source", i)
                    .isGreaterThan(1e-4);
        }
        assertThat(maxDiff(base, t, other, t, 1, 0, t)).as("the other pair of the batch").isLessThanOrEqualTo(1e-6);
    }

    @Test
    void sourcePaddingIsInvisible() {
        Random r = new Random(2);
        int[] lengths = {4, 7};
        long[][] src = {tokens(r, 4), tokens(r, 7)};
        int t = 5;
        long[] tgt = tokens(r, 2 * t);
        tgt[0] = BOS;
        tgt[t] = BOS;
        float[] shortPad = logits(pad(src, 7), 7, tgt, t, 2);
        float[] longPad = logits(pad(src, 12), 12, tgt, t, 2);
        assertThat(maxDiff(shortPad, t, longPad, t, 0, 0, t)).isLessThanOrEqualTo(2e-5);
        assertThat(maxDiff(shortPad, t, longPad, t, 1, 0, t)).isLessThanOrEqualTo(2e-5);
        float[] alone = logits(src[0], lengths[0], Arrays.copyOf(tgt, t), t, 1);
        assertThat(maxDiff(alone, t, shortPad, t, 0, 0, t)).as("unpadded alone vs padded in a batch")
                .isLessThanOrEqualTo(2e-5);
    }

    static long[] pad(long[][] seqs, int s) {
        long[] out = new long[seqs.length * s];
        Arrays.fill(out, PAD);
        for (int i = 0; i < seqs.length; i++) {
            System.arraycopy(seqs[i], 0, out, i * s, seqs[i].length);
        }
        return out;
    }

    /** Loss backward reaches every encoder parameter (through the cross-attention) and the shared embedding. */
    @Test
    void gradientsReachTheEncoder() {
        Random r = new Random(3);
        int b = 2;
        int s = 6;
        int t = 4;
        long[] src = tokens(r, b * s);
        src[s - 1] = PAD;
        long[] tgtIn = tokens(r, b * t);
        long[] targets = tokens(r, b * t);
        targets[t - 1] = -1;
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            JniUtils.setGradMode(true);
            PtNDArray loss;
            try {
                loss = model.loss(src, s, tgtIn, targets, t, b, new ForwardContext(true, 1, m));
            } finally {
                JniUtils.setGradMode(false);
            }
            JniUtils.backward(loss, Ops.floats(m, new float[] {1f}), false, false);
            for (Parameter p : store.parameters()) {
                PtNDArray g = store.gradient(p);
                assertThat(g).as("gradient of %s", p.name()).isNotNull();
                double norm = 0;
                for (float x : g.toFloatArray()) {
                    norm += x * x;
                }
                assertThat(norm).as("gradient of %s is not zero", p.name()).isGreaterThan(0);
            }
            store.zeroGradients();
        }
    }

    /**
     * Cross-attention: queries [B, Tq, C] over a memory [B, Tk, C] give [B, Tq, C]; the gradient of
     * sum(out * w) with respect to the memory and to the kv projection matches central differences.
     */
    @Test
    void crossAttentionShapesAndFiniteDifferences() {
        LayerSpec spec = new LayerSpec(16, 4, 0.0, true, true, 1, LoraConfig.NONE);
        MultiHeadAttention cross = new MultiHeadAttention("cross", spec, true);
        try (ParameterStore s = randomStore(cross, 5, 0.3)) {
            Random r = new Random(6);
            int b = 2;
            int tq = 3;
            int tk = 5;
            float[] x = gaussian(r, b * tq * 16);
            float[] mem = gaussian(r, b * tk * 16);
            float[] w = gaussian(r, b * tq * 16);
            float[] memBias = new float[b * tk];
            memBias[tk - 1] = AttentionMask.BLOCKED; // pad the last key of pair 0
            float[] gradMem;
            float[] gradKv;
            Parameter kv = s.parameters().stream().filter(p -> p.name().equals("cross.kv.weight")).findFirst().orElseThrow();
            try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray memory = Ops.floats(m, mem, b, tk, 16);
                JniUtils.attachGradient(memory, true);
                JniUtils.setGradMode(true);
                PtNDArray out;
                try {
                    out = cross.forward(Ops.floats(m, x, b, tq, 16), memory, Ops.floats(m, memBias, b, 1, 1, tk),
                            ForwardContext.inference(m), null);
                } finally {
                    JniUtils.setGradMode(false);
                }
                assertThat(out.getShape().getShape()).containsExactly(b, tq, 16);
                JniUtils.backward(out, Ops.floats(m, w, b, tq, 16), false, false);
                gradMem = JniUtils.getGradient(memory).toFloatArray();
                gradKv = s.gradient(kv).toFloatArray();
                s.zeroGradients();
            }
            // the padded key receives no gradient; the others do
            for (int j = 0; j < 16; j++) {
                assertThat(gradMem[(tk - 1) * 16 + j]).as("masked key").isEqualTo(0f);
            }
            FloatBuffer values = s.values();
            Random pick = new Random(7);
            for (int n = 0; n < 6; n++) {
                int i = pick.nextInt(b * tk * 16);
                if (i / 16 == tk - 1) {
                    continue;
                }
                double num = numeric(h -> {
                    float[] m2 = mem.clone();
                    m2[i] += (float) h;
                    return objective(cross, x, m2, memBias, w, b, tq, tk);
                });
                assertThat(gradMem[i]).as("d/d memory[%d]", i).isCloseTo((float) num,
                        Offset.offset((float) (2e-3 + 1e-2 * Math.abs(num))));
                int k = pick.nextInt((int) kv.numel());
                int at = (int) kv.offset() + k;
                float orig = values.get(at);
                double numW = numeric(h -> {
                    values.put(at, (float) (orig + h));
                    double o = objective(cross, x, mem, memBias, w, b, tq, tk);
                    values.put(at, orig);
                    return o;
                });
                assertThat(gradKv[k]).as("d/d kv.weight[%d]", k).isCloseTo((float) numW,
                        Offset.offset((float) (2e-3 + 1e-2 * Math.abs(numW))));
            }
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextGaussian();
        }
        return out;
    }

    /** Central differences at h and 2h, Richardson-extrapolated. */
    private static double numeric(DoubleUnaryOperator f) {
        double h = 1e-2;
        double d1 = (f.applyAsDouble(h) - f.applyAsDouble(-h)) / (2 * h);
        double d2 = (f.applyAsDouble(2 * h) - f.applyAsDouble(-2 * h)) / (4 * h);
        return (4 * d1 - d2) / 3;
    }

    private static double objective(MultiHeadAttention cross, float[] x, float[] mem, float[] memBias, float[] w, int b,
            int tq, int tk) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            float[] out = cross.forward(Ops.floats(m, x, b, tq, 16), Ops.floats(m, mem, b, tk, 16),
                    Ops.floats(m, memBias, b, 1, 1, tk), ForwardContext.inference(m), null).toFloatArray();
            double sum = 0;
            for (int i = 0; i < out.length; i++) {
                sum += (double) out[i] * w[i];
            }
            return sum;
        }
    }

    /** Decoding one token at a time over the cache reproduces the full decoder's logits at every position. */
    @Test
    void cachedDecodingMatchesFullRecompute() {
        Random r = new Random(4);
        int b = 2;
        int s = 6;
        int t = 7;
        long[] src = tokens(r, b * s);
        src[s - 1] = PAD;
        src[s - 2] = PAD;
        long[] tgt = tokens(r, b * t);
        tgt[0] = BOS;
        tgt[t] = BOS;
        float[] full = logits(src, s, tgt, t, b);
        JniUtils.setGradMode(false);
        try (NDManager m = root.newSubManager(); DecoderCache cache = new DecoderCache(model.decoderLayers(), root);
                NDScope outer = new NDScope()) {
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray bias = model.sourceBias(m, src, b, s);
            PtNDArray memory = model.encode(Ops.longs(m, src, b, s), bias, ctx);
            int[] chunks = {3, 1, 1, 1, 1}; // a prompt of 3 positions, then one at a time
            int pos = 0;
            for (int len : chunks) {
                long[] step = new long[b * len];
                for (int i = 0; i < b; i++) {
                    System.arraycopy(tgt, i * t + pos, step, i * len, len);
                }
                float[] out;
                try (NDScope scope = new NDScope()) {
                    out = model.decode(Ops.longs(m, step, b, len), pos == 0 ? memory : null, bias, ctx, cache).toFloatArray();
                }
                assertThat(cache.crossReady()).isTrue();
                for (int i = 0; i < b; i++) {
                    for (int q = 0; q < len; q++) {
                        for (int v = 0; v < VOCAB; v++) {
                            float expected = full[(i * t + pos + q) * VOCAB + v];
                            assertThat(out[(i * len + q) * VOCAB + v]).as("position %d of pair %d", pos + q, i)
                                    .isCloseTo(expected, Offset.offset(1e-4f * (1 + Math.abs(expected))));
                        }
                    }
                }
                pos += len;
                assertThat(cache.length()).isEqualTo(pos);
            }
        }
    }

    /** Beam search with one beam is greedy decoding; with four, the winner's score is its true log-probability. */
    @Test
    void greedyAndBeamSearch() {
        Random r = new Random(5);
        int b = 3;
        int s = 6;
        long[] src = tokens(r, b * s);
        src[s - 1] = PAD;
        Seq2SeqGenerator gen = new Seq2SeqGenerator(model, root);
        long[][] greedy = gen.greedy(src, b, s, 9);
        Seq2SeqGenerator.Hypothesis[] one = gen.beam(src, b, s, 9, 1, 0.0);
        for (int i = 0; i < b; i++) {
            assertThat(one[i].tokens()).as("beam 1 = greedy, source %d", i).containsExactly(greedy[i]);
        }
        Seq2SeqGenerator.Hypothesis[] four = gen.beam(src, b, s, 9, 4, 0.0);
        for (int i = 0; i < b; i++) {
            long[] seq = four[i].tokens();
            double truth = sequenceLogProb(Arrays.copyOfRange(src, i * s, (i + 1) * s), s, seq,
                    seq.length + 1 < 10 && four[i].logProb() > Double.NEGATIVE_INFINITY);
            System.out.printf("source %d: greedy %s, beam-4 %s (log p %.4f, recomputed %.4f)%n", i,
                    Arrays.toString(greedy[i]), Arrays.toString(seq), four[i].logProb(), truth);
            assertThat(four[i].logProb()).as("beam score = recomputed log-probability, source %d", i)
                    .isCloseTo(truth, Offset.offset(1e-3));
        }
    }

    /** log p(seq [+ EOS] | src) by one full teacher-forced decoder pass. */
    private static double sequenceLogProb(long[] src, int s, long[] seq, boolean withEos) {
        int t = seq.length + (withEos ? 1 : 0);
        long[] in = new long[t];
        in[0] = BOS;
        System.arraycopy(seq, 0, in, 1, Math.min(seq.length, t - 1));
        float[] lg = logits(src, s, in, t, 1);
        double total = 0;
        for (int i = 0; i < t; i++) {
            long target = i < seq.length ? seq[i] : EOS;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < VOCAB; v++) {
                max = Math.max(max, lg[i * VOCAB + v]);
            }
            double sum = 0;
            for (int v = 0; v < VOCAB; v++) {
                sum += Math.exp(lg[i * VOCAB + v] - max);
            }
            total += lg[i * VOCAB + (int) target] - max - Math.log(sum);
        }
        return total;
    }
}
