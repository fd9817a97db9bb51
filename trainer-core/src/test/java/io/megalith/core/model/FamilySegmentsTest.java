package io.megalith.core.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.MlmBatch;
import io.megalith.core.model.bert.MlmMasking;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.ReverseDigitsTask;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.EncoderDecoderPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A tensor-parallel group of one is exactly the single-rank model: {@code ParallelBert.segments} through {@link
 * SegmentedPass} and {@code ParallelEncoderDecoder.segments} through {@link SegmentedPass#runTwoChains} give the loss of
 * the whole-graph path ({@code pretrainingLoss}, {@code loss}) and the same gradient of every parameter, dropout on,
 * with and without activation recomputation.
 */
class FamilySegmentsTest {
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

    record Run(float loss, Map<String, float[]> grads) {}

    static Run run(ParameterStore store, Function<ForwardContext, Float> pass) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            float loss = pass.apply(new ForwardContext(true, 42, 3, m));
            Map<String, float[]> g = new LinkedHashMap<>();
            for (Parameter p : store.parameters()) {
                g.put(p.name(), store.gradient(p).toFloatArray());
            }
            store.zeroGradients();
            return new Run(loss, g);
        }
    }

    static float wholeGraph(PtNDArray loss) {
        JniUtils.backward(loss, Ops.scalar(loss.getManager(), 1f), false, false);
        return loss.getFloat();
    }

    static void assertSame(Run whole, Run segmented) {
        assertThat(segmented.loss()).isEqualTo(whole.loss());
        whole.grads().forEach((name, want) -> {
            float[] got = segmented.grads().get(name);
            float scale = 1e-12f;
            for (float v : want) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int i = 0; i < want.length; i++) {
                assertThat(Math.abs(got[i] - want[i])).as("d %s[%d]", name, i).isLessThanOrEqualTo(1e-6f * scale);
            }
        });
    }

    static <T> T withGrad(Supplier<T> f) {
        JniUtils.setGradMode(true);
        try {
            return f.get();
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void bertSegmentsAreThePretrainingLoss(boolean preLn) {
        BertConfig cfg = new BertConfig(24, 12, 2, 2, 4, 16, 0.1, true, preLn, true, 0, LoraConfig.NONE);
        Bert bert = new Bert(cfg);
        ParallelBert parallel = BertPlan.apply(bert, Placement.SINGLE);
        int b = 3;
        int t = 10;
        Random r = new Random(5);
        long[] ids = new long[b * t];
        long[] segs = new long[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % t == 0 ? 1 : 4 + r.nextInt(20);
            segs[i] = (i % t) >= t / 2 ? 1 : 0;
        }
        ids[2 * t - 1] = 0; // padding
        ids[2 * t - 2] = 0;
        MlmBatch batch = new MlmMasking(24, 3, 0, 1).batch(ids, segs, new long[] {0, 1, 0}, b, t, 9);
        try (ParameterStore store = new ParameterStore(bert, root, 7)) {
            Run whole = run(store, ctx -> wholeGraph(withGrad(() -> bert.pretrainingLoss(batch, ctx))));
            for (SegmentedPass.Recompute rc : SegmentedPass.Recompute.values()) {
                Run seg = run(store, ctx -> SegmentedPass.run(parallel.segments(batch, ctx.manager()),
                        Bert.inputIds(ctx.manager(), batch), ctx, 1f, SegmentedPass.NO_HOOKS, rc, null));
                assertSame(whole, seg);
            }
        }
    }

    @Test
    void encoderDecoderChainsAreTheTeacherForcedLoss() {
        ReverseDigitsTask task = new ReverseDigitsTask(2, 7, 0.1, 4);
        EncoderDecoder model = new EncoderDecoder(task.modelConfig(2, 2, 4, 16, 0.1));
        ParallelEncoderDecoder parallel = EncoderDecoderPlan.apply(model, Placement.SINGLE);
        Seq2SeqTask.Batch b = task.train(3, 0, 4);
        try (ParameterStore store = new ParameterStore(model, root, 7)) {
            Run whole = run(store, ctx -> wholeGraph(withGrad(() -> model.loss(b.src(), b.srcLen(), b.tgtIn(), b.targets(),
                    b.tgtLen(), b.batch(), ctx))));
            assertThat(whole.grads().get("encoder.layers.0.attn.qkv.weight")).as("the encoder learns").isNotNull();
            for (SegmentedPass.Recompute rc : SegmentedPass.Recompute.values()) {
                Run seg = run(store, ctx -> {
                    ParallelEncoderDecoder.Chains c = parallel.segments(b, ctx.manager());
                    return SegmentedPass.runTwoChains(c.encoder(), c.source(), c.decoder(), c.target(), ctx, 1f,
                            SegmentedPass.NO_HOOKS, rc, null);
                });
                assertSame(whole, seg);
            }
            // the chains' shape covers every parameter (bucket planning)
            Set<Parameter> planned = new HashSet<>();
            parallel.segments(null, null).all().forEach(s -> planned.addAll(s.parameters()));
            assertThat(planned).containsExactlyInAnyOrderElementsOf(((Module) model).parameters());
        }
    }
}
