package io.megalith.core.model.dit;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.TextEncoderPlan;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.testing.Tolerances;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The text encoder's chain (as training runs it in the DiT's pass) gives the states its one-rank forward gives. */
class TextEncoderChainTest {
    @Test
    void theChainReadsTheCaptionsAsTheForwardDoes() {
        Torch.load(1);
        try (NDManager root = Torch.newManager()) {
            TextToImage model = new TextToImage(new DitConfig(1, 8, 8, 4, 1, 2, 16, 0, 32, 16),
                    new TextEncoderConfig(12, 0, 6, 2, 2, 16, 0.0, true, TextEncoderConfig.Mask.CAUSAL));
            try (ParameterStore store = new ParameterStore(model, root, 3)) {
                DitTest.randomise(store, 5);
                long[] ids = {3, 4, 5, 0, 0, 0, 7, 8, 9, 10, 11, 0, 3, 5, 4, 0, 0, 0};
                int b = 3;
                float[] want = model.states(ids, b, root);
                JniUtils.setGradMode(false);
                float[] got;
                try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(m);
                    PtNDArray x = Ops.longs(m, ids, b, 6);
                    for (Segment s : TextEncoderPlan.segments(model.encoder(), TpLayout.SINGLE, ids, b)) {
                        x = s.forward(x, null, ctx);
                    }
                    got = x.toFloatArray();
                }
                Tolerances.assertCloseToLargest(want, got, "states");
                float[] other = model.states(new long[] {3, 4, 6, 0, 0, 0, 7, 8, 9, 10, 11, 0, 3, 5, 4, 0, 0, 0}, b,
                        root);
                assertThat(other).as("a changed token changes the states").isNotEqualTo(want);
            }
        }
    }
}
