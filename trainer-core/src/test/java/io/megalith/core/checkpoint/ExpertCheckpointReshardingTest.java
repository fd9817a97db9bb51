package io.megalith.core.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.comm.RankGroups;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.Tokenizer;
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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sharded checkpoints of an MoE model under expert parallelism: expert tensors are not replicated over the
 * data-parallel group (each ep rank holds its experts, their AdamW state partitioned over the expert-data-parallel
 * group under ZeRO), so each is written once, under its global name, by a rank of the edp group holding it, and a
 * load in any other ep reads the experts it holds. Saved after 3 steps at EP=2 x DP=2 (ZeRO-1) and resumed on one
 * rank, and saved on one rank and resumed at EP=2 x DP=2 (ZeRO-1) and at EP=2 (ZeRO-2), ranks over real Netty
 * sockets on loopback: the next 3 losses are those of the original layout continuing (fp32, 1e-5 relative).
 */
class ExpertCheckpointReshardingTest {
    static final int STEPS = 6;
    static final int SAVE_AT = 3;
    static final int EXPERTS = 4;

    @TempDir
    static Path tmp;

    static MegalithConfig config(int dp, int ep, String... more) {
        List<String> all = new ArrayList<>(List.of("parallel.dp=" + dp, "parallel.ep=" + ep));
        all.addAll(List.of(more));
        return ConfigLoader.fromYaml("""
                seed: 5
                model: {n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, dropout: 0.1,
                        moe: {every: 1, experts: 4, top_k: 2, capacity_factor: 1.0, aux_loss_coef: 0.01,
                              z_loss_coef: 0.001}}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 6, batch_size: 8, grad_accum: 2, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, all, "expert checkpoint test");
    }

    static String text() {
        return SyntheticText.words(3, 8000, "alpha", "beta", "gamma", "delta", "the", "and", "of", "sea", "sky");
    }

    /** One rank: from step 0 saving after SAVE_AT steps, or from the checkpoint; the losses of the steps it ran. */
    static List<Double> train(MegalithConfig cfg, RankGroups groups, boolean resume, String runDir) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt parallel = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.of(groups, false));
            Gpt gpt = parallel.model();
            ModelParameters params = GptParts.createParameters(cfg, parallel, manager, groups);
            parallel.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(parallel, data), params, manager, groups);
                    ShardedCheckpointer ckpt = new ShardedCheckpointer(new CheckpointStore(runDir, new Configuration(), 0),
                            groups, trainer, gpt, cfg.parallel().ep(), cfg.zero().stage(), true, 60_000)) {
                long start = 0;
                if (resume) {
                    start = ckpt.restore(Long.MAX_VALUE).orElseThrow().step();
                    assertThat(start).isEqualTo(SAVE_AT);
                }
                for (long s = start; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (!resume && s + 1 == SAVE_AT) {
                        RunState state = new RunState(RunState.FORMAT_VERSION, s + 1, cfg.seed(),
                                trainer.optimizer().stepCount(), s + 1, gpt.config(), "char", ConfigLoader.toYaml(cfg));
                        Map<String, byte[]> blobs = new LinkedHashMap<>();
                        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
                        blobs.put(ShardedCheckpointer.TOKENIZER_FILE, "{}".getBytes());
                        ckpt.save(s + 1, blobs); // written while the next steps run
                    }
                }
                ckpt.awaitPending();
            }
            return losses;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<List<Double>> run(String dir, int dp, int ep, boolean resume, String... more) throws Exception {
        MegalithConfig cfg = config(dp, ep, more);
        return LoopbackRanks.run(DeviceMesh.forWorld(dp, dp, 1, 1, ep), ctx -> train(cfg, ctx.rankGroups(), resume, dir));
    }

    static void assertContinues(List<List<Double>> ranks, List<Double> straight, String layout) {
        for (List<Double> r : ranks) {
            assertThat(r).hasSize(STEPS - SAVE_AT);
            for (int i = 0; i < r.size(); i++) {
                double want = straight.get(i);
                assertThat(Math.abs(r.get(i) - want) / Math.abs(want)).as("%s step %d loss %s vs %s", layout,
                        SAVE_AT + i + 1, r.get(i), want).isLessThanOrEqualTo(1e-5);
            }
        }
    }

    /**
     * Every expert of every MoE layer stored whole, exactly once: the same tensors (weights and both AdamW moments)
     * for every expert and layer, under their global names.
     */
    static void assertEveryExpertStoredOnce(CheckpointManifest m, int nLayer) {
        Set<String> first = null;
        for (int layer = 0; layer < nLayer; layer++) {
            for (int e = 0; e < EXPERTS; e++) {
                String prefix = "blocks." + layer + ".moe.experts." + e + ".";
                Set<String> suffixes = new TreeSet<>();
                for (CheckpointManifest.TensorEntry t : m.tensors()) {
                    for (String moment : List.of("", "exp_avg.", "exp_avg_sq.")) {
                        if (t.name().startsWith(moment + prefix)) {
                            assertThat(suffixes.add(moment + t.name().substring((moment + prefix).length())))
                                    .as("%s listed once", t.name()).isTrue();
                            assertThat(t.pieces()).as(t.name()).hasSize(1);
                        }
                    }
                }
                if (first == null) {
                    first = suffixes;
                    long weights = suffixes.stream().filter(n -> !n.startsWith("exp_avg")).count();
                    assertThat(weights).as("tensors of an expert").isGreaterThanOrEqualTo(2);
                    assertThat(suffixes).as("weights and both moments of expert 0").hasSize(3 * (int) weights);
                } else {
                    assertThat(suffixes).as("tensors of layer %d expert %d", layer, e).isEqualTo(first);
                }
            }
        }
    }

    @Test
    void savedAtExpertTimesDataParallelZero1ResumesOnOneRank() throws Exception {
        String dir = tmp.resolve("ep2dp2").toString();
        List<List<Double>> saved = run(dir, 4, 2, false, "zero.stage=1");
        List<Double> straight = saved.get(0).subList(SAVE_AT, STEPS);
        for (List<Double> r : saved) {
            assertThat(r).hasSize(STEPS);
        }
        CheckpointStore store = new CheckpointStore(dir, new Configuration(), 0);
        assertThat(store.completeSteps()).containsExactly((long) SAVE_AT);
        CheckpointManifest m = store.manifest(SAVE_AT);
        assertThat(m.layout()).isEqualTo(new CheckpointManifest.Layout(4, 4, 1, 1, 2, 1));
        assertEveryExpertStoredOnce(m, 2);
        assertThat(store.verify(SAVE_AT)).isEmpty();

        MegalithConfig one = config(1, 1);
        List<Double> resumed = train(one, RankGroups.single(), true, dir);
        assertContinues(List.of(resumed), straight, "one rank from ep=2 x dp=2");
    }

    @Test
    void savedOnOneRankResumesAtExpertParallelTwo() throws Exception {
        String dir = tmp.resolve("one").toString();
        List<Double> straight = train(config(1, 1), RankGroups.single(), false, dir).subList(SAVE_AT, STEPS);
        assertEveryExpertStoredOnce(new CheckpointStore(dir, new Configuration(), 0).manifest(SAVE_AT), 2);
        assertContinues(run(dir, 4, 2, true, "zero.stage=1"), straight, "ep=2 x dp=2 zero-1 from one rank");
        assertContinues(run(dir, 2, 2, true, "zero.stage=2"), straight, "ep=2 zero-2 from one rank");
    }
}
