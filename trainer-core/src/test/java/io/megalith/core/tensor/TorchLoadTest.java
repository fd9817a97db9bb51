package io.megalith.core.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class TorchLoadTest {
    @Test
    void libtorchLoadsOfflineAndComputes() {
        Torch.load(1);
        try (NDManager m = Torch.newManager()) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2));
            NDArray b = a.matMul(a);
            assertThat(b.toFloatArray()).containsExactly(7, 10, 15, 22);
        }
        assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
    }
}
