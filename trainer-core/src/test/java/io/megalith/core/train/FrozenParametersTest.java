package io.megalith.core.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.family.gpt.GptParts;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.TextData;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.finetune.Freezing;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.parallelize.GptPlan;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.hadoop.conf.Configuration;
import org.assertj.core.api.Assertions;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GPT {@link Trainer} on one rank honours {@link Parameter#freeze()}: frozen tensors stay bit-identical while the
 * others train, AdamW keeps state for the trainable elements only (whatever the ZeRO stage, and with worker
 * replicas), a LoRA model with everything but its adapters frozen trains only the adapters, and a run resumed from a
 * checkpoint continues bit for bit, frozen values restored from it.
 */
class FrozenParametersTest {
    static final MegalithConfig.Finetune FREEZE_EMBEDDING_AND_FIRST_BLOCK = new MegalithConfig.Finetune(
            new MegalithConfig.Lora(0, 16, List.of()), List.of("wte", "blocks.0."));
    static final MegalithConfig.Finetune LORA = new MegalithConfig.Finetune(
            new MegalithConfig.Lora(4, 8, List.of("attn.qkv", "mlp.fc")), List.of());

    @TempDir
    Path tmp;

    static MegalithConfig config(String... overrides) {
        return ConfigLoader.fromYaml("""
                seed: 9
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, dropout: 0.1}
                data: {task: text, path: unused, tokenizer: char}
                train: {max_steps: 5, batch_size: 4, grad_accum: 2, lr: 1.0e-2, warmup_steps: 1, min_lr: 1.0e-3,
                        weight_decay: 0.1}
                runtime: {threads: 1}
                parallel: {grad_bucket_mib: 0.01}
                """, List.of(overrides), "frozen test");
    }

    static TextData data(MegalithConfig cfg) {
        String text = "the king and the queen walked by the river in the morning. ".repeat(60);
        CharTokenizer tok = CharTokenizer.fit(text);
        return new TextData(tok, tok.encode(text), 0.1, cfg.model().blockSize(), cfg.seed());
    }

    record Run(List<Double> losses, Map<String, HostTensor> before, Map<String, HostTensor> after,
            Map<String, HostTensor> optimizerState, long stateElements, long trainable, List<String> frozen) {}

    /** Trains {@code steps} steps of a fresh model that {@code finetune} freezes. */
    static Run train(MegalithConfig cfg, Function<GptConfig, Gpt> build, MegalithConfig.Finetune finetune, int steps) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        TextData data = data(cfg);
        try (NDManager manager = Torch.newManager()) {
            Gpt gpt = build.apply(GptConfig.from(cfg.model(), data.tokenizer().vocabSize()));
            long trainable = Freezing.apply(gpt.parameters(), finetune);
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager, new io.megalith.comm
                    .SingleRankCommunicator());
            gpt.initConstants(manager);
            Map<String, HostTensor> before = params.toHost();
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data), params, manager, RankGroups.single())) {
                for (int s = 0; s < steps; s++) {
                    losses.add(trainer.step(s).loss());
                }
                List<String> frozen = gpt.parameters().stream().filter(Parameter::frozen).map(Parameter::name).toList();
                for (Parameter p : gpt.parameters()) { // backward computes no gradient for a frozen parameter
                    if (p.isBound()) {
                        assertThat(JniUtils.requiresGrad(p.value())).as("%s requires a gradient", p.name())
                                .isEqualTo(!p.frozen());
                    } else {
                        assertThat(p.frozen()).as("ZeRO-3 releases trainable %s only", p.name()).isFalse();
                    }
                }
                return new Run(losses, before, params.toHost(), trainer.gatherOptimizerState(),
                        trainer.optimizer().size(), trainable, frozen);
            }
        }
    }

    static void assertOnlyTrainableChanged(Run r) {
        assertThat(r.frozen()).isNotEmpty();
        for (Map.Entry<String, HostTensor> e : r.before().entrySet()) {
            boolean frozen = r.frozen().contains(e.getKey());
            boolean same = e.getValue().contentEquals(r.after().get(e.getKey()));
            assertThat(same).as("%s %s", e.getKey(), frozen ? "frozen: bit-identical" : "trains: changed")
                    .isEqualTo(frozen);
        }
        for (String name : r.frozen()) {
            assertThat(r.optimizerState()).as("no AdamW state for frozen " + name)
                    .doesNotContainKeys("exp_avg." + name, "exp_avg_sq." + name);
        }
        assertThat(r.optimizerState()).hasSize(2 * (r.before().size() - r.frozen().size()));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void frozenTensorsStayBitIdenticalAndHaveNoOptimizerState(int zero) {
        Run r = train(config("zero.stage=" + zero), Gpt::new, FREEZE_EMBEDDING_AND_FIRST_BLOCK, 4);
        assertThat(r.frozen()).contains("wte.weight", "blocks.0.attn.qkv.weight", "blocks.0.ln1.weight")
                .doesNotContain("wpe.weight", "blocks.1.attn.qkv.weight");
        assertOnlyTrainableChanged(r);
        assertThat(r.stateElements()).as("AdamW state = trainable elements").isEqualTo(r.trainable());
        assertThat(r.losses().get(3)).as("it still trains").isLessThan(r.losses().get(0));
        if (zero > 0) { // every stage trains the same, frozen parameters laid out or kept apart as each wants
            Run plain = train(config(), Gpt::new, FREEZE_EMBEDDING_AND_FIRST_BLOCK, 4);
            for (int s = 0; s < 4; s++) {
                assertThat(r.losses().get(s)).as("zero %d step %d", zero, s)
                        .isCloseTo(plain.losses().get(s), Percentage.withPercentage(1e-3));
            }
        }
    }

    @Test
    void workerReplicasFreezeWhatThePrimaryFreezes() {
        Run one = train(config(), Gpt::new, FREEZE_EMBEDDING_AND_FIRST_BLOCK, 3);
        Run two = train(config("runtime.workers=2", "runtime.threads=2"), Gpt::new, FREEZE_EMBEDDING_AND_FIRST_BLOCK, 3);
        assertOnlyTrainableChanged(two);
        for (int s = 0; s < 3; s++) {
            assertThat(two.losses().get(s)).as("step %d with 2 workers", s)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
    }

    @Test
    void loraModelTrainsOnlyItsAdapters() {
        LoraConfig lora = LORA.loraConfig();
        Run r = train(config(), c -> new Gpt(c, lora), LORA, 4);
        List<String> adapters = r.before().keySet().stream().filter(n -> n.contains(".lora_")).toList();
        assertThat(adapters).as("adapters on 2 layers x 2 targets").hasSize(8);
        assertThat(r.frozen()).hasSize(r.before().size() - adapters.size());
        assertOnlyTrainableChanged(r);
        long adapterElements = adapters.stream().mapToLong(n -> r.before().get(n).numel()).sum();
        assertThat(r.stateElements()).isEqualTo(adapterElements).isEqualTo(r.trainable());
        assertThat(r.losses().get(3)).as("adapters learn").isLessThan(r.losses().get(0));
    }

    @Test
    void loraWorkerReplicasCarryTheAdaptersAndMatchOneWorker() {
        LoraConfig lora = LORA.loraConfig();
        Run one = train(config(), c -> new Gpt(c, lora), LORA, 4);
        Run two = train(config("runtime.workers=2", "runtime.threads=2"), c -> new Gpt(c, lora), LORA, 4);
        assertOnlyTrainableChanged(two);
        assertThat(two.stateElements()).isEqualTo(one.stateElements());
        for (int s = 0; s < 4; s++) {
            assertThat(two.losses().get(s)).as("step %d with 2 workers", s)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
    }

    @Test
    void singleExpertsCannotBeFrozenUnderExpertParallelism() {
        String every = "model.moe.every=1";
        String experts = "model.moe.experts=4";
        Assertions.assertThatThrownBy(() -> config(every, experts, "parallel.dp=2", "parallel.ep=2",
                "finetune.freeze=[blocks.0.moe.experts.1]")).hasMessageContaining("names single experts");
        assertThat(config(every, experts, "parallel.dp=2", "parallel.ep=2", "finetune.freeze=[blocks.0.moe.experts.]")
                .finetune().freeze()).containsExactly("blocks.0.moe.experts.");
        assertThat(config(every, experts, "finetune.freeze=[blocks.0.moe.experts.1]").finetune().freeze()).hasSize(1);
    }

    @Test
    void everythingFrozenIsRefused() {
        MegalithConfig.Finetune all = new MegalithConfig.Finetune(new MegalithConfig.Lora(0, 16, List.of()),
                List.of(""));
        Assertions.assertThatThrownBy(() -> train(config(), Gpt::new, all, 1))
                .hasMessageContaining("nothing to train");
    }

    /**
     * Saves after 3 of 6 steps; a fresh trainer whose parameters are all clobbered restores the checkpoint and runs
     * steps 4-6 with the losses and final values of the uninterrupted run, bit for bit (frozen values come back
     * from the checkpoint, the trainable ones with their smaller AdamW state).
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 3})
    void resumeWithFrozenParametersContinuesBitForBit(int zero) throws Exception {
        MegalithConfig cfg = config("zero.stage=" + zero);
        String dir = tmp.resolve("run-" + zero).toString();
        Map<String, HostTensor>[] finals = new Map[2];
        List<Double> straight = resumable(cfg, dir, false, finals, 0);
        List<Double> resumed = resumable(cfg, dir, true, finals, 1);
        assertThat(resumed).containsExactlyElementsOf(straight.subList(3, 6));
        for (Map.Entry<String, HostTensor> e : finals[0].entrySet()) {
            assertThat(finals[1].get(e.getKey()).contentEquals(e.getValue())).as("final %s", e.getKey()).isTrue();
        }
    }

    private static List<Double> resumable(MegalithConfig cfg, String dir, boolean resume,
            Map<String, HostTensor>[] finals, int slot) throws Exception {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        TextData data = data(cfg);
        try (NDManager manager = Torch.newManager()) {
            Gpt gpt = new Gpt(GptConfig.from(cfg.model(), data.tokenizer().vocabSize()));
            Freezing.apply(gpt.parameters(), FREEZE_EMBEDDING_AND_FIRST_BLOCK);
            ModelParameters params = GptParts.createParameters(cfg, gpt, manager,
                    new SingleRankCommunicator());
            gpt.initConstants(manager);
            List<Double> losses = new ArrayList<>();
            try (Trainer trainer = new Trainer(cfg, new GptParts(GptPlan.apply(gpt, Placement.SINGLE), data), params, manager, RankGroups.single());
                    ShardedCheckpointer ckpt = new ShardedCheckpointer(new CheckpointStore(dir, new Configuration(), 0),
                            RankGroups.single(), trainer, gpt, 1, cfg.zero().stage(), false, 60_000)) {
                long start = 0;
                if (resume) {
                    Map<String, HostTensor> zeros = new LinkedHashMap<>();
                    params.toHost().forEach((k, t) -> zeros.put(k, HostTensor.ofFloats(new float[(int) t.numel()],
                            t.shape())));
                    trainer.loadFullParameters(zeros); // nothing of the fresh model survives but what is restored
                    start = ckpt.restore(Long.MAX_VALUE).orElseThrow().step();
                    assertThat(start).isEqualTo(3);
                }
                for (long s = start; s < 6; s++) {
                    losses.add(trainer.step(s).loss());
                    if (!resume && s + 1 == 3) {
                        RunState state = new RunState(RunState.FORMAT_VERSION, s + 1, cfg.seed(),
                                trainer.optimizer().stepCount(), s + 1, gpt.config(), "char", ConfigLoader.toYaml(cfg));
                        Map<String, byte[]> blobs = new LinkedHashMap<>();
                        blobs.put(RunStateCodec.FILE, RunStateCodec.encode(state));
                        blobs.put(ShardedCheckpointer.TOKENIZER_FILE, "{}".getBytes());
                        ckpt.save(s + 1, blobs);
                    }
                }
                ckpt.awaitPending();
                finals[slot] = params.toHost();
                return losses;
            }
        }
    }
}
