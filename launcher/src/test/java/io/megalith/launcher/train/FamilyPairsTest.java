package io.megalith.launcher.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedSeq2Seq;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.report.MetricsLog;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code data.task: pairs} with {@code model.family: encoder_decoder}: source<TAB>target lines of data.path (here
 * words of a small alphabet -> the same word in capitals) train at tp=2 on Spark local[2], held-out pairs are
 * evaluated, and the checkpoint's vocabulary lets the model decode new words without the file.
 */
class FamilyPairsTest {
    static final Configuration HADOOP = new Configuration();

    @TempDir
    Path tmp;

    private MegalithConfig config(String... overrides) {
        String yaml = """
                seed: 11
                run: {dir: "%s", name: pairs}
                model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 32,
                        dropout: 0.0}
                data: {task: pairs, path: "%s", held_out_fraction: 0.1, eval_pairs: 40}
                train: {max_steps: 200, batch_size: 32, lr: 4.0e-3, min_lr: 4.0e-4, warmup_steps: 20,
                        weight_decay: 0.01, eval_every: 100}
                parallel: {tp: 2}
                runtime: {threads: 1}
                comm: {deadline_seconds: 30}
                """.formatted(tmp.resolve("run"), tmp.resolve("upper.tsv"));
        return ConfigLoader.fromYaml(yaml, List.of(overrides), "pairs test");
    }

    @Test
    void wordsToCapitalsTrainAtTp2AndDecode() throws Exception {
        Random r = new Random(3);
        StringBuilder tsv = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            StringBuilder w = new StringBuilder();
            for (int n = 3 + r.nextInt(4); n > 0; n--) {
                w.append((char) ('a' + r.nextInt(8)));
            }
            tsv.append(w).append('\t').append(w.toString().toUpperCase()).append('\n');
        }
        Files.writeString(tmp.resolve("upper.tsv"), tsv);
        MegalithConfig cfg = config();
        TrainingRun.Summary s = DistributedTraining.run(cfg, new PrintStream(OutputStream.nullOutputStream()));
        assertThat(s.endStep()).isEqualTo(200);
        List<Double> loss = MetricsLog.read(cfg.run().dir(), HADOOP).stream().filter(m -> m.containsKey("loss"))
                .map(m -> ((Number) m.get("loss")).doubleValue()).toList();
        assertThat(loss.get(loss.size() - 1)).isLessThan(loss.get(0) / 4);
        List<Double> exact = MetricsLog.read(cfg.run().dir(), HADOOP).stream().filter(m -> m.containsKey("exact_match"))
                .map(m -> ((Number) m.get("exact_match")).doubleValue()).toList();
        System.out.println("pairs: first loss " + loss.get(0) + ", last " + loss.get(loss.size() - 1) + ", exact " + exact);
        assertThat(exact).hasSize(2);
        assertThat(exact.get(1)).isGreaterThan(0);
        assertThat(s.exactMatch()).isEqualTo(exact.get(1));
        try (TrainedSeq2Seq trained = TrainedSeq2Seq.load(RunCheckpoint.latest(cfg.run().dir()), ModelFamilies.ENCODER_DECODER::named,
                HADOOP, 1)) {
            List<String> out = trained.decode(List.of("abc", "hgfe", "zab"), 1, 0);
            System.out.println("decoded: " + out);
            assertThat(out).hasSize(3);
            assertThat(trained.vocabulary().encode("zab")[0]).as("an unknown character").isEqualTo(3);
        }
    }

    @Test
    void pairsNeedAPathAndTheEncoderDecoderNamesItsTasks() {
        assertThatThrownBy(() -> config("data.path=null")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("data.path: must be set for data.task=pairs with model.family encoder_decoder");
        assertThatThrownBy(() -> config("data.task=text")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("data.task: model.family encoder_decoder trains on data.task reverse (built in) "
                        + "or pairs");
    }
}
