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
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resharding: a sharded checkpoint saved after 3 steps by 4 ranks at TP=2 x PP=2 (over real Netty loopback
 * sockets) loads into other layouts, and the next 3 steps' losses equal those of the original layout
 * continuing (fp32, 1e-5 relative): one rank, DP=4 (ZeRO-1) and DP=2 with ZeRO-3.
 */
class ReshardingTest {
    static final int STEPS = 6;
    static final int SAVE_AT = 3;

    @TempDir
    static Path tmp;
    static String runDir;
    static List<Double> original;

    static MegalithConfig config(String... overrides) {
        return ConfigLoader.fromYaml("""
                seed: 4
                model: {n_layer: 4, n_head: 4, n_embd: 32, block_size: 16, dropout: 0.1, bias: true}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 6, batch_size: 4, grad_accum: 4, lr: 3.0e-3, warmup_steps: 2, min_lr: 3.0e-4}
                runtime: {threads: 1}
                """, List.of(overrides), "resharding test");
    }

    static String text() {
        return SyntheticText.words(12, 6000, "nel", "mezzo", "del", "cammin", "di", "nostra", "vita", "mi", "ritrovai", "per", "una", "selva");
    }

    /**
     * One rank: from step 0 (saving after SAVE_AT steps) or from the checkpoint, to STEPS; returns the losses of
     * the steps it ran.
     */
    static List<Double> train(MegalithConfig cfg, RankGroups groups, boolean resume, String runDir) {
        return train(cfg, groups, resume, runDir, List.of((long) SAVE_AT), SAVE_AT);
    }

    static List<Double> train(MegalithConfig cfg, RankGroups groups, boolean resume, String runDir, List<Long> saves,
            long expectedStart) {
        TextData data = SyntheticText.rankData(text(), cfg);
        Tokenizer tok = data.tokenizer();
        try (NDManager manager = Torch.newManager()) {
            ParallelGpt parallel = GptPlan.apply(new Gpt(GptConfig.from(cfg.model(), tok.vocabSize())),
                    Placement.of(groups, false));
            Gpt gpt = parallel.model();
            ModelParameters params = GptParts.createParameters(cfg, parallel, manager, groups.dataParallel());
            parallel.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(parallel, data), params, manager, groups);
                    ShardedCheckpointer ckpt = new ShardedCheckpointer(new CheckpointStore(runDir, new Configuration(), 0),
                            groups, trainer, gpt, 1, cfg.zero().stage(), true, 60_000)) {
                long start = 0;
                if (resume) {
                    start = ckpt.restore(Long.MAX_VALUE).orElseThrow().step();
                    assertThat(start).isEqualTo(expectedStart);
                }
                for (long s = start; s < STEPS; s++) {
                    losses.add(trainer.step(s).loss());
                    if (!resume && saves.contains(s + 1)) {
                        RunState state = new RunState(RunState.FORMAT_VERSION, s + 1, cfg.seed(),
                                trainer.optimizer().stepCount(), s + 1, gpt.config(), "char", ConfigLoader.toYaml(cfg));
                        Map<String, byte[]> blobs = new LinkedHashMap<>();
                        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
                        blobs.put(ShardedCheckpointer.TOKENIZER_FILE, "{}".getBytes());
                        ckpt.save(s + 1, blobs); // the write goes on while the next steps run
                    }
                }
                ckpt.awaitPending();
            }
            return losses;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<List<Double>> run(int dp, int tp, int pp, boolean resume, String... overrides) throws Exception {
        return run(runDir, dp, tp, pp, resume, overrides);
    }

    static List<List<Double>> run(String runDir, int dp, int tp, int pp, boolean resume, String... overrides)
            throws Exception {
        List<String> all = new ArrayList<>(List.of("parallel.dp=" + dp, "parallel.tp=" + tp, "parallel.pp=" + pp));
        all.addAll(List.of(overrides));
        MegalithConfig cfg = config(all.toArray(String[]::new));
        return LoopbackRanks.run(DeviceMesh.of(dp, tp, pp), ctx -> train(cfg, ctx.rankGroups(), resume, runDir));
    }

    @BeforeAll
    static void saveAtTensorTimesPipeline() throws Exception {
        runDir = tmp.resolve("run").toString();
        List<List<Double>> ranks = run(1, 2, 2, false);
        original = ranks.get(0).subList(SAVE_AT, STEPS);
        for (List<Double> r : ranks) {
            assertThat(r).hasSize(STEPS);
        }
        CheckpointStore store = new CheckpointStore(runDir, new Configuration(), 0);
        assertThat(store.completeSteps()).containsExactly((long) SAVE_AT);
        CheckpointManifest m = store.manifest(SAVE_AT);
        assertThat(m.layout()).isEqualTo(new CheckpointManifest.Layout(4, 1, 2, 2, 1, 0));
        // every rank wrote its own slices: four model and four optimizer shard files
        assertThat(m.files()).extracting(CheckpointManifest.FileEntry::name).contains("model-r00000.safetensors",
                "model-r00001.safetensors", "model-r00002.safetensors", "model-r00003.safetensors",
                "optimizer-r00003.safetensors");
        // the tied token embedding is stored once, in two tp pieces from the first stage
        CheckpointManifest.TensorEntry wte = m.tensors().stream().filter(t -> t.name().equals("wte.weight"))
                .findFirst().orElseThrow();
        assertThat(wte.pieces()).extracting(CheckpointManifest.Piece::file)
                .containsExactly("model-r00000.safetensors", "model-r00001.safetensors");
        assertThat(store.verify(SAVE_AT)).isEmpty();
    }

    static void assertContinuesLikeTheOriginal(List<List<Double>> ranks, String layout) {
        for (List<Double> r : ranks) {
            assertThat(r).hasSize(STEPS - SAVE_AT);
            for (int i = 0; i < r.size(); i++) {
                double want = original.get(i);
                assertThat(Math.abs(r.get(i) - want) / Math.abs(want)).as("%s step %d loss %s vs %s", layout,
                        SAVE_AT + i + 1, r.get(i), want).isLessThanOrEqualTo(1e-5);
            }
        }
    }

    @Test
    void resumesOnOneRank() throws Exception {
        assertContinuesLikeTheOriginal(run(1, 1, 1, true), "1 rank");
    }

    @Test
    void resumesAtDataParallelFour() throws Exception {
        assertContinuesLikeTheOriginal(run(4, 1, 1, true, "zero.stage=1"), "dp=4 zero-1");
    }

    @Test
    void resumesAtZero3DataParallelTwo() throws Exception {
        assertContinuesLikeTheOriginal(run(2, 1, 1, true, "zero.stage=3"), "dp=2 zero-3");
    }

    @Test
    void resumesInTheOriginalLayout() throws Exception {
        assertContinuesLikeTheOriginal(run(1, 2, 2, true), "tp=2 x pp=2");
    }

    /** Saved with the writing dealt out among dp replicas and the AdamW state partitioned (ZeRO-1), then ZeRO-3. */
    @Test
    void savedAtDataTimesPipelineZero1ResumesAtTensorParallelTwo() throws Exception {
        String dir = tmp.resolve("dp2pp2").toString();
        List<Double> straight = run(dir, 2, 1, 2, false, "zero.stage=1").get(0).subList(SAVE_AT, STEPS);
        CheckpointManifest m = new CheckpointStore(dir, new Configuration(), 0).manifest(SAVE_AT);
        // both dp replicas of each stage wrote part of the stage's tensors
        assertThat(m.files()).extracting(CheckpointManifest.FileEntry::name).contains("model-r00000.safetensors",
                "model-r00001.safetensors", "model-r00002.safetensors", "model-r00003.safetensors");
        List<List<Double>> resumed = run(dir, 1, 2, 1, true);
        for (List<Double> r : resumed) {
            for (int i = 0; i < r.size(); i++) {
                assertThat(Math.abs(r.get(i) - straight.get(i)) / straight.get(i)).as("tp=2 step %d", SAVE_AT + i + 1)
                        .isLessThanOrEqualTo(1e-5);
            }
        }
    }

    @Test
    void savedAtZero3ResumesOnOneRank() throws Exception {
        String dir = tmp.resolve("zero3").toString();
        List<Double> straight = run(dir, 2, 1, 1, false, "zero.stage=3").get(0).subList(SAVE_AT, STEPS);
        List<List<Double>> resumed = run(dir, 1, 1, 1, true);
        for (int i = 0; i < resumed.get(0).size(); i++) {
            assertThat(Math.abs(resumed.get(0).get(i) - straight.get(i)) / straight.get(i))
                    .as("1 rank step %d", SAVE_AT + i + 1).isLessThanOrEqualTo(1e-5);
        }
    }

    /**
     * Step 3's shard of rank 3 is corrupt. In the new layout only the second stage's ranks read that file; the
     * first stage could load step 3, but all ranks agree to fall back to step 2 (the rank that found it warns
     * naming the file), and continue exactly like the original run.
     */
    @Test
    void aCorruptShardMakesEveryRankFallBackToTheOlderCheckpoint() throws Exception {
        String dir = tmp.resolve("corrupt").toString();
        MegalithConfig cfg = config("parallel.tp=2", "parallel.pp=2");
        List<Double> straight = LoopbackRanks.run(DeviceMesh.of(1, 2, 2),
                ctx -> train(cfg, ctx.rankGroups(), false, dir, List.of(2L, 3L), 0)).get(0);
        Path shard = Path.of(dir, "checkpoints", "step-00000003", "model-r00003.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            long pos = f.length() * 3 / 4;
            f.seek(pos);
            int b = f.read();
            f.seek(pos);
            f.write(~b & 0xff);
        }
        List<List<Double>> resumed = LoopbackRanks.run(DeviceMesh.of(1, 2, 2),
                ctx -> train(cfg, ctx.rankGroups(), true, dir, List.of(), 2));
        for (List<Double> r : resumed) {
            assertThat(r).hasSize(STEPS - 2);
            for (int i = 0; i < r.size(); i++) {
                assertThat(Math.abs(r.get(i) - straight.get(2 + i)) / straight.get(2 + i)).as("step %d", 3 + i)
                        .isLessThanOrEqualTo(1e-5);
            }
        }
    }
}
