package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sharded checkpoint of the LoRA GPT of {@link LoraTensorParallelEquivalenceTest} saved after 3 steps at TP=2
 * (adapters split: column-parallel B and row-parallel A in two pieces, the replicated factors written once) loads
 * on one rank, which continues with the TP=2 run's losses (1e-5 relative) for the remaining steps.
 */
class LoraCheckpointReshardingTest {
    static final int SAVE_AT = 3;
    static final int STEPS = LoraTensorParallelEquivalenceTest.STEPS;

    @TempDir
    static Path tmp;

    /** From step 0 saving after SAVE_AT steps, or from the checkpoint; the losses of the steps run. */
    static List<Double> train(MegalithConfig cfg, RankGroups groups, String runDir, boolean resume) {
        try (NDManager manager = Torch.newManager()) {
            LoraTensorParallelEquivalenceTest.Built b = LoraTensorParallelEquivalenceTest.build(cfg, groups, manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(b.gpt(), b.data()), b.store(), manager, groups);
                    ShardedCheckpointer ckpt = new ShardedCheckpointer(new CheckpointStore(runDir, new Configuration(), 0),
                            groups, trainer, b.gpt().model(), 1, cfg.zero().stage(), true, 60_000)) {
                long start = resume ? ckpt.restore(Long.MAX_VALUE).orElseThrow().step() : 0;
                assertThat(start).isEqualTo(resume ? SAVE_AT : 0);
                for (long s = start; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (!resume && s + 1 == SAVE_AT) {
                        RunState state = new RunState(RunState.FORMAT_VERSION, s + 1, cfg.seed(),
                                trainer.optimizer().stepCount(), s + 1, b.gpt().model().config(), "char", ConfigLoader.toYaml(cfg));
                        Map<String, byte[]> blobs = new LinkedHashMap<>();
                        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
                        blobs.put(ShardedCheckpointer.TOKENIZER_FILE, "{}".getBytes());
                        ckpt.save(s + 1, blobs);
                    }
                }
                ckpt.awaitPending();
            }
            return losses;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void savedAtTensorParallelTwoContinuesOnOneRank() throws Exception {
        String dir = tmp.resolve("lora-tp2").toString();
        MegalithConfig tp2 = LoraTensorParallelEquivalenceTest.config(2, false);
        List<List<Double>> saved = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), ctx -> train(tp2, ctx.rankGroups(), dir, false));
        List<Double> straight = saved.get(0).subList(SAVE_AT, STEPS);
        assertThat(new CheckpointStore(dir, new Configuration(), 0).manifest(SAVE_AT).tensors())
                .as("the adapters are in the checkpoint").anyMatch(t -> t.name().equals("blocks.1.attn.proj.lora_a"))
                .anyMatch(t -> t.name().equals("blocks.0.mlp.fc.lora_b"));
        List<Double> resumed = train(LoraTensorParallelEquivalenceTest.config(1, false), RankGroups.single(), dir, true);
        assertThat(resumed).hasSize(STEPS - SAVE_AT);
        for (int i = 0; i < resumed.size(); i++) {
            assertThat(Math.abs(resumed.get(i) - straight.get(i)) / straight.get(i)).as("1 rank step %d: %s vs %s",
                    SAVE_AT + i + 1, resumed.get(i), straight.get(i)).isLessThanOrEqualTo(1e-5);
        }
    }
}
