package io.megalith.core.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.megalith.core.tensor.HostTensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PruneScheduleTest {
    @Test
    void theCubicScheduleRisesFastThenFlattensAndCutsEveryDeltaAndAtTheEnd() {
        PruneSchedule s = new PruneSchedule(0.8, 10, 50, 15);
        assertThat(s.at(0)).isZero();
        assertThat(s.at(10)).isZero();
        assertThat(s.at(20)).isCloseTo(0.8 * (1 - Math.pow(0.75, 3)), within(1e-12)); // a quarter in: 46% of s_f
        assertThat(s.at(50)).isEqualTo(0.8);
        assertThat(s.at(90)).isEqualTo(0.8);
        assertThat(s.at(30) - s.at(20)).as("faster early").isGreaterThan(s.at(50) - s.at(40));
        assertThat(java.util.stream.LongStream.rangeClosed(0, 100).filter(s::cutsAt).boxed().toList())
                .containsExactly(25L, 40L, 50L);
    }

    @Test
    void masksZeroTheSmallestMagnitudesOfLayerMatricesOnly() {
        float[] w = {0.5f, -0.1f, 0.3f, 0.1f, -0.9f, 0.2f, 0f, -0.4f};
        // 0 then the tie |-0.1| = |0.1| broken by index, then 0.2: round(0.5 * 8) = 4 zeros
        assertThat(MagnitudeMask.of(w, 0.5)).containsExactly(1, 0, 1, 0, 1, 0, 0, 1);
        assertThat(MagnitudeMask.of(w, 0.0)).containsOnly(1f);
        assertThat(MagnitudeMask.of(w, 0.3)).containsExactly(1, 0, 1, 1, 1, 1, 0, 1); // round(2.4) = 2
        long[] matrix = {4, 2};
        assertThat(MagnitudeMask.prunable("blocks.3.attn.qkv.weight", matrix)).isTrue();
        assertThat(MagnitudeMask.prunable("layers.0.mlp.fc.weight", matrix)).isTrue();
        assertThat(MagnitudeMask.prunable("encoder.blocks.1.mlp.proj.weight", matrix)).isTrue();
        assertThat(MagnitudeMask.prunable("blocks.3.attn.qkv.bias", new long[] {4})).isFalse();
        assertThat(MagnitudeMask.prunable("blocks.3.ln1.weight", new long[] {4})).isFalse();
        assertThat(MagnitudeMask.prunable("wte.weight", matrix)).isFalse();
        assertThat(MagnitudeMask.prunable("head.weight", matrix)).isFalse();
        assertThat(MagnitudeMask.prunable("blocks.0.attn.qkv.lora_a.weight", matrix)).isFalse();
        Map<String, HostTensor> full = new LinkedHashMap<>();
        full.put("blocks.0.mlp.fc.weight", HostTensor.ofFloats(w, matrix));
        full.put("wte.weight", HostTensor.ofFloats(w.clone(), matrix));
        Map<String, HostTensor> pruned = MagnitudeMask.pruned(full, 0.5);
        assertThat(pruned.get("blocks.0.mlp.fc.weight").toFloats()).containsExactly(0.5f, 0, 0.3f, 0, -0.9f, 0, 0,
                -0.4f);
        assertThat(pruned.get("wte.weight").toFloats()).containsExactly(w);
        assertThat(MagnitudeMask.sparsity(pruned)).isEqualTo(0.5);
    }
}
