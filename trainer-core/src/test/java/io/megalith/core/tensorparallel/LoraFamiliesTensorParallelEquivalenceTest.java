package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.ReverseDigitsTask;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.EncoderDecoderPlan;
import io.megalith.core.parallelize.ParallelBert;
import io.megalith.core.parallelize.ParallelEncoderDecoder;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.tensorparallel.FamiliesTensorParallelEquivalenceTest.Result;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.family.bert.MlmPart;
import io.megalith.core.family.seq2seq.TeacherForcedPart;
import io.megalith.core.train.PartSource;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * LoRA adapters (rank 4, alpha 8) on the encoder families' tensor-parallel layers (model/transformer's
 * MultiHeadAttention and FeedForward, built from LayerSpec's LoraConfig): BERT (masked LM + NSP, post-LN) with
 * adapters on attention and feed-forward, and the encoder-decoder with adapters on cross-attention too, train the
 * same at TP=2 (Netty loopback ranks, dropout on) as on one rank: 6 AdamW steps' losses within 1e-5 relative and
 * the step-1 gradients of the adapters of column-parallel (qkv, q, kv, fc) and row-parallel (proj) layers and of
 * base weights within 1e-5 of their largest element (B starts random, so every adapter gradient is non-zero).
 * The harness (rows, config, comparison) is {@link FamiliesTensorParallelEquivalenceTest}'s.
 */
class LoraFamiliesTensorParallelEquivalenceTest {
    static final int STEPS = FamiliesTensorParallelEquivalenceTest.STEPS;
    static final LoraConfig BERT_LORA = new LoraConfig(4, 8, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
    static final LoraConfig SEQ2SEQ_LORA = new LoraConfig(4, 8,
            List.of("attn.qkv", "attn.proj", "cross.q", "cross.kv", "cross.proj", "mlp.fc", "mlp.proj"));
    static final List<String> BERT_CHECKED = List.of("layers.0.attn.qkv.lora_a", "layers.0.attn.qkv.lora_b",
            "layers.0.attn.proj.lora_a", "layers.0.attn.proj.lora_b", "layers.1.mlp.fc.lora_a", "layers.1.mlp.fc.lora_b",
            "layers.1.mlp.proj.lora_a", "layers.1.mlp.proj.lora_b", "embeddings.word.weight", "layers.0.attn.qkv.weight",
            "layers.1.mlp.proj.weight", "mlm.dense.weight");
    static final List<String> SEQ2SEQ_CHECKED = List.of("encoder.layers.0.attn.qkv.lora_a",
            "encoder.layers.0.attn.qkv.lora_b", "encoder.layers.1.mlp.proj.lora_a", "encoder.layers.1.mlp.proj.lora_b",
            "decoder.layers.0.cross.q.lora_a", "decoder.layers.0.cross.q.lora_b", "decoder.layers.0.cross.kv.lora_a",
            "decoder.layers.0.cross.kv.lora_b", "decoder.layers.1.cross.proj.lora_a", "decoder.layers.1.cross.proj.lora_b",
            "decoder.layers.0.attn.proj.lora_b", "shared.weight", "decoder.layers.0.cross.kv.weight");

    static Result train(boolean bert, MegalithConfig cfg, Communicator dp, Communicator tp) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        Placement placement = Placement.tensorParallel(tp);
        try (NDManager manager = Torch.newManager()) {
            Module model;
            List<Segment> plan;
            PartSource.Rows data;
            if (bert) {
                BertConfig bc = new BertConfig(FamiliesTensorParallelEquivalenceTest.VOCAB, 16, 2, 2, 4, 32, 0.1, true,
                        false, true, 0, BERT_LORA);
                ParallelBert b = BertPlan.apply(new Bert(bc), placement);
                model = b.model();
                plan = b.segments(null, null);
                data = (step, first, count) -> MlmPart.of(b,
                        FamiliesTensorParallelEquivalenceTest.bertRows(step, first, count));
            } else {
                ReverseDigitsTask task = new ReverseDigitsTask(2, 6, 0.1, 5);
                ParallelEncoderDecoder ed = EncoderDecoderPlan.apply(
                        new EncoderDecoder(task.modelConfig(2, 2, 4, 32, 0.1).withLora(SEQ2SEQ_LORA)), placement);
                model = ed.model();
                plan = ed.segments(null, null).all();
                data = (step, first, count) -> TeacherForcedPart.of(ed,
                        FamiliesTensorParallelEquivalenceTest.reversalRows(task, step, first, count));
            }
            try (ParameterStore store = new ParameterStore(model, manager, cfg.seed())) {
                int adapted = LoraTensorParallelEquivalenceTest.randomB(store);
                assertThat(adapted).as("a B per targeted layer").isEqualTo(bert ? 2 * 4 : 2 * 4 + 2 * 7);
                return train(store, FamiliesTensorParallelEquivalenceTest.trainer(cfg, store, plan, data, manager, dp, tp), bert,
                        tp.size() > 1);
            }
        }
    }

    /** 6 steps: their losses, step 1's CHECKED gradients; on a TP rank, the adapters split as the class says. */
    private static Result train(ParameterStore store, Trainer trainer, boolean bert, boolean sharded) {
        List<String> checked = bert ? BERT_CHECKED : SEQ2SEQ_CHECKED;
        try (trainer) {
            List<Double> losses = new ArrayList<>();
            Map<String, float[]> grads = new LinkedHashMap<>();
            for (int s = 0; s < STEPS; s++) {
                losses.add(trainer.step(s).loss());
                if (s == 0) {
                    Map<String, HostTensor> full = trainer.fullGradients();
                    for (String name : checked) {
                        assertThat(full).as("gradient of %s", name).containsKey(name);
                        grads.put(name, full.get(name).toFloats());
                    }
                }
            }
            if (sharded) {
                Map<String, Parameter.Sharding.Kind> kinds = new LinkedHashMap<>();
                store.parameters().forEach(p -> kinds.put(p.name(), p.sharding().kind()));
                String column = bert ? "layers.0.attn.qkv" : "decoder.layers.0.cross.kv";
                String row = bert ? "layers.1.mlp.proj" : "decoder.layers.1.cross.proj";
                assertThat(kinds).containsEntry(column + ".lora_a", Parameter.Sharding.Kind.PARTIAL)
                        .containsEntry(column + ".lora_b", Parameter.Sharding.Kind.SLICE)
                        .containsEntry(row + ".lora_a", Parameter.Sharding.Kind.SLICE)
                        .containsEntry(row + ".lora_b", Parameter.Sharding.Kind.PARTIAL);
            }
            return new Result(losses, grads, store.numel());
        }
    }

    static void check(boolean bert) throws Exception {
        String family = bert ? "LoRA BERT" : "LoRA encoder-decoder";
        Result one = train(bert, FamiliesTensorParallelEquivalenceTest.config(1, 1), new SingleRankCommunicator(),
                new SingleRankCommunicator());
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) -> train(bert,
                FamiliesTensorParallelEquivalenceTest.config(1, 2), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            FamiliesTensorParallelEquivalenceTest.assertSame(one, r, family + " tp=2");
            assertThat((double) r.localParameters()).isLessThan(one.localParameters() * 0.7);
        }
    }

    @Test
    void bertWithAdaptersAtTp2ReproducesOneRank() throws Exception {
        check(true);
    }

    @Test
    void encoderDecoderWithAdaptersOnCrossAttentionAtTp2ReproducesOneRank() throws Exception {
        check(false);
    }
}
