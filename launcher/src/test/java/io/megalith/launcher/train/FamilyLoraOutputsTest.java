package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.finetune.BaseCheckpoint;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.core.train.task.Seq2SeqRunTask;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LoRA run of {@code model.family: encoder_decoder} through the launcher (tp=2, Spark local[2]) leaves
 * adapters.safetensors and merged.safetensors as the GPT's does: the merged plain model's decoder logits are those
 * of the final checkpoint's base + adapters, and the driver's report prints the recorded difference; a masked-LM
 * BERT LoRA run writes them too.
 */
class FamilyLoraOutputsTest {
    static final Configuration HADOOP = new Configuration();

    @TempDir
    static Path tmp;

    @Test
    void encoderDecoderLoraRunWritesAdaptersAndMerged() throws Exception {
        Path dir = tmp.resolve("ed-lora");
        Path conf = Files.writeString(tmp.resolve("ed.yaml"), """
                seed: 5
                run: {dir: "%s", name: family-lora-test}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 32,
                        dropout: 0.0}
                data: {task: reverse, min_len: 2, max_len: 5, held_out_fraction: 0.1, eval_pairs: 8}
                train: {max_steps: 4, batch_size: 4, lr: 1.0e-2, min_lr: 1.0e-3, warmup_steps: 1}
                finetune: {lora: {rank: 4, alpha: 8}}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(dir));
        String out = BertFinetuneTest.megalith("train", "--config", conf.toString(), "--set", "parallel.tp=2");
        assertThat(out).contains("merged into a plain encoder_decoder model");
        Map<String, String> meta = LoraOutputs.adapterMetadata(dir.toString(), HADOOP);
        assertThat(meta).containsEntry(LoraOutputs.FAMILY, "encoder_decoder").containsEntry(ModelFiles.LORA_RANK, "4")
                .doesNotContainKey(LoraOutputs.ALSO_TRAINED);
        assertThat(Double.parseDouble(meta.get(LoraOutputs.MERGED_DIFF))).isLessThan(1e-4);
        Map<String, HostTensor> adapters = ModelFiles.load(dir.resolve(LoraOutputs.ADAPTERS_FILE)).tensors();
        Map<String, HostTensor> merged = ModelFiles.load(dir.resolve(LoraOutputs.MERGED_FILE)).tensors();
        assertThat(adapters).isNotEmpty();
        assertThat(adapters.keySet()).allMatch(n -> n.endsWith(".lora_a") || n.endsWith(".lora_b"));
        assertThat(merged.keySet()).noneMatch(n -> n.endsWith(".lora_a") || n.endsWith(".lora_b"));

        MegalithConfig cfg = ConfigLoader.load(conf, List.of("launch.master=inprocess"));
        Map<String, HostTensor> last = BaseCheckpoint.read(dir.toString(), HADOOP).weights();
        Seq2SeqTask task = Seq2SeqRunTask.open(cfg, HADOOP);
        Seq2SeqConfig adapted = task.modelConfig(1, 1, 2, 32, 0).withLora(cfg.finetune().loraConfig());
        Seq2SeqTask.Batch batch = task.heldOut(0, 4);
        Torch.load(1);
        try (NDManager manager = Torch.newManager()) {
            float[] withAdapters = decoderLogits(new EncoderDecoder(adapted), last, batch, manager);
            float[] plain = decoderLogits(new EncoderDecoder(adapted.withLora(LoraConfig.NONE)), merged, batch, manager);
            assertThat(plain).hasSize(withAdapters.length).containsExactly(withAdapters, Offset.offset(1e-5f));
        }
    }

    /** A masked-LM BERT LoRA run (one rank, in process) writes both files too, adapters only, its check recorded. */
    @Test
    void bertMaskedLmLoraRunWritesBothFiles() throws Exception {
        Path data = Files.writeString(tmp.resolve("play.txt"), BertFinetuneTest.play());
        Path dir = tmp.resolve("mlm-lora");
        MegalithConfig cfg = ConfigLoader.fromYaml(BertFinetuneTest.bertYaml(dir, data), List.of(
                "launch.master=inprocess", "train.max_steps=3", "finetune.lora.rank=2", "finetune.lora.alpha=4"), "mlm");
        try (TrainingRun run = ModelFamilies.of(cfg).newRun(cfg, HADOOP,
                BertFinetuneTest.QUIET, RankGroups.single(), true, null)) {
            run.run();
        }
        Map<String, String> meta = LoraOutputs.adapterMetadata(dir.toString(), HADOOP);
        assertThat(meta).containsEntry(LoraOutputs.FAMILY, "bert").containsKey(LoraOutputs.MODEL)
                .doesNotContainKey(LoraOutputs.ALSO_TRAINED);
        assertThat(Double.parseDouble(meta.get(LoraOutputs.MERGED_DIFF))).isLessThan(1e-4);
        Map<String, HostTensor> merged = ModelFiles.load(dir.resolve(LoraOutputs.MERGED_FILE)).tensors();
        Map<String, HostTensor> last = BaseCheckpoint.read(dir.toString(), HADOOP).weights();
        assertThat(merged.keySet()).noneMatch(n -> n.endsWith(".lora_a") || n.endsWith(".lora_b"));
        String qkv = "layers.0.attn.qkv.weight";
        assertThat(merged.get(qkv).contentEquals(Lora.merged(last, 2.0).get(qkv))).isTrue();
        assertThat(merged.get(qkv).contentEquals(last.get(qkv))).as("the adapter trained").isFalse();
        assertThat(merged.get("layers.0.ln1.weight").contentEquals(last.get("layers.0.ln1.weight"))).isTrue();
    }

    static float[] decoderLogits(EncoderDecoder model, Map<String, HostTensor> state, Seq2SeqTask.Batch b,
            NDManager manager) {
        JniUtils.setGradMode(false);
        try (ParameterStore store = new ParameterStore(model, manager, 0); NDManager m = manager.newSubManager()) {
            store.load(state);
            ForwardContext ctx = ForwardContext.inference(m);
            PtNDArray bias = model.sourceBias(m, b.src(), b.batch(), b.srcLen());
            PtNDArray memory = model.encode(Ops.longs(m, b.src(), b.batch(), b.srcLen()), bias, ctx);
            return model.decode(Ops.longs(m, b.tgtIn(), b.batch(), b.tgtLen()), memory, bias, ctx, null).toFloatArray();
        }
    }
}
