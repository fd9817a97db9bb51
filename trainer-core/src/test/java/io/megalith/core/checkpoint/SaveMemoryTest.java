package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.ParallelGpt;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.SyntheticText;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a save costs a rank in memory (issue 14): at dp=2 each rank copies only the tensors it writes, about half of
 * the parameters and AdamW moments, and not onto the Java heap. The save used to gather the whole model and the whole
 * optimizer state onto the heap of every rank (ZeRO-3: 2-3x the state's bytes of heap allocation per save), which
 * grew the heap to the biggest save for the rest of the run.
 */
class SaveMemoryTest {
    @TempDir
    Path tmp;

    record Save(long parameters, long copiedBytes, long heapBytes) {}

    @ParameterizedTest(name = "ZeRO-{0}")
    @ValueSource(ints = {0, 1, 3})
    void eachRankCopiesItsShareOffTheHeap(int stage) throws Exception {
        MegalithConfig cfg = ConfigLoader.fromYaml("""
                seed: 3
                model: {n_layer: 2, n_head: 4, n_embd: 128, block_size: 16, dropout: 0.0, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 2, batch_size: 2, lr: 1.0e-3}
                runtime: {threads: 1}
                """, List.of("parallel.dp=2", "zero.stage=" + stage), "save memory test");
        String runDir = tmp.resolve("run").toString();
        List<Save> saves = LoopbackRanks.run(DeviceMesh.of(2, 1, 1), ctx -> save(cfg, ctx.rankGroups(), runDir));
        long state = 12 * saves.get(0).parameters(); // 4 bytes of value + 8 of AdamW moments per parameter
        long copied = saves.get(0).copiedBytes() + saves.get(1).copiedBytes();
        assertThat(copied).isEqualTo(state); // every tensor written once, by one of the two ranks
        for (Save s : saves) {
            assertThat(s.copiedBytes()).isBetween(state / 4, 3 * state / 4); // about half each
            // the training thread's heap allocation for the save: bookkeeping, not tensors (before: > 2x state)
            assertThat(s.heapBytes()).isLessThan(state / 10);
        }
        assertThat(new CheckpointStore(runDir, new Configuration(), 0).completeSteps()).containsExactly(1L, 2L);
    }

    private static Save save(MegalithConfig cfg, RankGroups groups, String runDir) {
        TextData data = SyntheticText.rankData(SyntheticText.words(5, 4000, "alpha", "beta", "gamma", "delta"), cfg);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt gpt = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), data.tokenizer().vocabSize())),
                    Placement.of(groups, false));
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, groups.dataParallel());
            gpt.initConstants(manager);
            try (Trainer trainer = new Trainer(cfg, new GptParts(gpt, data), params, manager, groups);
                    ShardedCheckpointer ckpt = new ShardedCheckpointer(new CheckpointStore(runDir, new Configuration(), 0),
                            groups, trainer, gpt.model(), 1, cfg.zero().stage(), true, 60_000)) {
                trainer.step(0);
                Map<String, byte[]> blobs = Map.of(RunStateCodec.FILE, new byte[] {1},
                        ShardedCheckpointer.TOKENIZER_FILE, new byte[] {2});
                ckpt.save(1, blobs); // warm: classes loaded, staging buffers sized
                ckpt.awaitPending();
                long before = threads.getCurrentThreadAllocatedBytes();
                ckpt.save(2, blobs);
                long heap = threads.getCurrentThreadAllocatedBytes() - before;
                ckpt.awaitPending();
                long copied = ckpt.lastTiming().bytes() - (groups.dataParallel().rank() == 0 ? 2 : 0);
                return new Save(params.numel(), copied, heap);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
