package io.megalith.core.segment;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.model.Targets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Segment-wise autograd is the whole-graph autograd: the same loss and bit-identical gradients, with
 * and without recomputing activations, dropout included; and the hooks fire in the documented order.
 */
class SegmentedPassTest {
    static final int B = 3;
    static final int T = 8;

    record Outcome(float loss, float[] grads) {}

    static Outcome run(int mode, List<String> events) {
        Torch.load(1);
        GptConfig cfg = new GptConfig(11, T, 3, 2, 16, 0.2, true);
        try (NDManager root = Torch.newManager()) {
            Gpt gpt = new Gpt(cfg);
            ParameterStore store = new ParameterStore(gpt, root, 13);
            gpt.initConstants(root);
            Random r = new Random(5);
            long[] ids = new long[B * T];
            long[] tg = new long[B * T];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(11);
                tg[i] = i % 5 == 0 ? -1 : r.nextInt(11);
            }
            float loss;
            try (NDScope s = new NDScope(); NDManager m = root.newSubManager()) {
                PtNDArray x = Ops.longs(m, ids, B, T);
                Targets targets = Targets.of(m, tg);
                ForwardContext ctx = new ForwardContext(true, 99, 0, m);
                if (mode == 0) {
                    JniUtils.setGradMode(true);
                    PtNDArray l = gpt.loss(x, targets, ctx);
                    JniUtils.setGradMode(false);
                    JniUtils.backward(l, Ops.scalar(m, 0.5f), false, false);
                    loss = l.getFloat();
                } else {
                    SegmentedPass.Hooks hooks = new SegmentedPass.Hooks() {
                        @Override
                        public void beforeForward(int segment, boolean recomputing) {
                            events.add((recomputing ? "re" : "") + "fwd" + segment);
                        }

                        @Override
                        public void afterBackward(int segment) {
                            events.add("bwd" + segment);
                        }
                    };
                    loss = SegmentedPass.run(GptPlan.apply(gpt, Placement.SINGLE).segments(targets), x, ctx, 0.5f, hooks,
                            mode == 2);
                }
            }
            FloatBuffer g = ByteBuffer.allocateDirect((int) store.numel() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
            store.copyGradients(g);
            float[] grads = new float[g.remaining()];
            g.get(grads);
            return new Outcome(loss, grads);
        }
    }

    @Test
    void segmentsGiveTheWholeGraphsLossAndGradients() {
        Outcome whole = run(0, new ArrayList<>());
        List<String> events = new ArrayList<>();
        Outcome segmented = run(1, events);
        assertThat(segmented.loss()).isEqualTo(whole.loss());
        assertThat(segmented.grads()).containsExactly(whole.grads());
        // embed, 3 blocks, head: forward in order, backward in reverse
        assertThat(events).containsExactly("fwd0", "fwd1", "fwd2", "fwd3", "fwd4", "bwd4", "bwd3", "bwd2", "bwd1",
                "bwd0");
        float max = 0;
        for (float v : whole.grads()) {
            max = Math.max(max, Math.abs(v));
        }
        assertThat(max).as("gradients are not trivially zero").isGreaterThan(0f);
    }

    @Test
    void recomputingActivationsChangesNothing() {
        Outcome whole = run(0, new ArrayList<>());
        List<String> events = new ArrayList<>();
        Outcome recomputed = run(2, events);
        assertThat(recomputed.loss()).isEqualTo(whole.loss());
        assertThat(recomputed.grads()).containsExactly(whole.grads());
        assertThat(events).containsExactly("fwd0", "fwd1", "fwd2", "fwd3", "fwd4", "bwd4", "refwd3", "bwd3", "refwd2",
                "bwd2", "refwd1", "bwd1", "refwd0", "bwd0");
    }
}
