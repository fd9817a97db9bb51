package io.megalith.core.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import java.nio.FloatBuffer;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** The EMA starts at the weights, moves by (1 - decay) toward them each update, and round-trips its named state. */
class EmaTest {
    @Test
    void averagesTowardTheWeightsAndRestoresItsState() {
        Torch.load(1);
        DitConfig cfg = new DitConfig(1, 4, 4, 2, 1, 2, 8, 2, 8);
        try (NDManager root = Torch.newManager(); ParameterStore store = new ParameterStore(new Dit(cfg), root, 3);
                ParameterStore other = new ParameterStore(new Dit(cfg), root, 4)) {
            float[] start = new float[(int) store.numel()];
            store.values().get(start);
            Ema ema = new Ema(store, 0.9);
            assertThat(ema.values()).containsExactly(start);
            FloatBuffer v = store.values();
            for (int i = 0; i < start.length; i++) {
                v.put(i, start[i] + 1f);
            }
            ema.update();
            ema.update();
            float[] avg = ema.values();
            for (int i = 0; i < start.length; i++) {
                // two steps toward theta + 1: 1 - 0.9^2 of the way
                assertThat((double) avg[i]).isCloseTo(start[i] + 0.19, Offset.offset(1e-5));
            }
            Map<String, HostTensor> state = ema.state();
            assertThat(state).containsKeys("ema.patch.weight", "ema.blocks.0.modulation.bias",
                    "ema.final.linear.weight");
            Ema restored = new Ema(other, 0.9);
            restored.load(state);
            assertThat(restored.values()).containsExactly(avg);
            restored.copyTo(other);
            float[] copied = new float[(int) other.numel()];
            other.values().get(copied);
            assertThat(copied).containsExactly(avg);
        }
    }
}
