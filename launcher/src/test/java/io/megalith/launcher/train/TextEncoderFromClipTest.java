package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.tensor.HostTensor;
import io.megalith.launcher.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * checkpoint.init_text_from: a text-to-image DiT's text encoder starts from a clip run's text tower (as text-to-image
 * systems start from a pretrained text encoder). With lr 0 nothing moves, so the DiT's checkpoint holds the tower's
 * exact weights under text_encoder.*; a text shape that differs is refused naming the key.
 */
class TextEncoderFromClipTest {
    static final Configuration HADOOP = new Configuration();
    static final String CLIP = """
            seed: 5
            run: {dir: "%s", name: tower}
            model: {family: clip, n_layer: 1, n_head: 2, n_embd: 16, patch_size: 4, pool: mean, embed_dim: 16,
                    text_len: 48, bias: true}
            data: {task: captions, builtin: shapes, tokenizer: char, captions: {held_out_pairs: 2}}
            train: {max_steps: 6, batch_size: 8, lr: 3.0e-3, warmup_steps: 1, eval_every: 0, eval_batches: 1}
            checkpoint: {every: 0}
            runtime: {threads: 1}
            launch: {master: inprocess}
            """;
    static final String T2I = """
            seed: 7
            run: {dir: "%s", name: t2i-from-clip}
            model: {family: dit, n_layer: 1, n_head: 2, n_embd: 16, dropout: 0.0, patch_size: 7, text_len: 48,
                    text_layers: 1}
            data: {task: captions, builtin: shapes, tokenizer: char, captions: {held_out_pairs: 2}}
            diffusion: {timesteps: 50, sample_steps: 4, ema_decay: 0.9}
            train: {max_steps: 2, batch_size: 8, lr: 0.0, min_lr: 0.0, warmup_steps: 0, eval_every: 0, eval_batches: 1}
            checkpoint: {every: 0, init_text_from: "%s"}
            runtime: {threads: 1}
            launch: {master: inprocess}
            """;

    @TempDir
    static Path tmp;

    static Path clip;

    @BeforeAll
    static void trainTheClipRun() throws Exception {
        clip = tmp.resolve("clip");
        CliRun r = CliRun.of("train", "--config", Files.writeString(tmp.resolve("clip.yaml"), CLIP.formatted(clip))
                .toString());
        assertThat(r.exit()).as(r.err()).isZero();
    }

    static Map<String, HostTensor> weights(Path runDir) throws Exception {
        CheckpointStore store = new CheckpointStore(runDir.toString(), HADOOP, 0);
        return store.load(store.completeSteps().get(store.completeSteps().size() - 1)).tensorFiles()
                .get(ShardedCheckpointer.MODEL);
    }

    @Test
    void theTextEncoderStartsAsTheClipRunsTextTower() throws Exception {
        Path t2i = tmp.resolve("t2i");
        CliRun r = CliRun.of("train", "--config",
                Files.writeString(tmp.resolve("t2i.yaml"), T2I.formatted(t2i, clip)).toString());
        assertThat(r.exit()).as(r.err()).isZero();
        Map<String, HostTensor> tower = weights(clip);
        Map<String, HostTensor> dit = weights(t2i);
        long copied = 0;
        for (Map.Entry<String, HostTensor> e : tower.entrySet()) {
            if (e.getKey().startsWith("text.")) {
                String own = "text_encoder." + e.getKey().substring("text.".length());
                assertThat(dit.get(own).contentEquals(e.getValue())).as(own).isTrue();
                copied++;
            }
        }
        assertThat(copied).as("every tensor of the tower").isGreaterThan(10);
    }

    @Test
    void anotherTextShapeIsRefusedNamingTheKey() throws Exception {
        Path t2i = tmp.resolve("t2i-other");
        CliRun r = CliRun.of("train", "--config",
                Files.writeString(tmp.resolve("t2i-other.yaml"), T2I.formatted(t2i, clip)).toString(),
                "--set", "model.text_len=40");
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("checkpoint.init_text_from: " + clip + "'s text tower is");
    }
}
