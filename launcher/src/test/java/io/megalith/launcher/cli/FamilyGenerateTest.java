package io.megalith.launcher.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.comm.RankGroups;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedSeq2Seq;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqGenerator;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.task.Seq2SeqRunTask;
import io.megalith.launcher.testing.CliRun;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code megalith generate} on encoder-decoder runs: a tiny reversal model trained by {@code megalith train} at tp=2
 * (Spark local[2]) is loaded on one rank from its sharded checkpoint and reverses digit strings, greedily and with
 * beam search; its greedy output equals {@link Seq2SeqGenerator} on the model the training path restores; a BERT
 * run is refused by name.
 */
class FamilyGenerateTest {
    static final String REVERSE = """
            seed: 7
            run: {dir: "%s", name: reverse-generate}
            model: {family: encoder_decoder, n_encoder_layer: 1, n_decoder_layer: 1, n_head: 2, n_embd: 32,
                    dropout: 0.0}
            data: {task: reverse, min_len: 2, max_len: 4, held_out_fraction: 0.1, eval_pairs: 50}
            train: {max_steps: %d, batch_size: 32, lr: 4.0e-3, min_lr: 4.0e-4, warmup_steps: 20, weight_decay: 0.01,
                    log_every: 50}
            runtime: {threads: 1}
            comm: {deadline_seconds: 30}
            """;

    @TempDir
    Path tmp;

    static CliRun megalith(String... args) {
        return CliRun.of(args);
    }

    @Test
    void aReversalRunTrainedAtTp2ReversesStringsThroughGenerate() throws Exception {
        Path runDir = tmp.resolve("reverse");
        int steps = Integer.getInteger("famgen.steps", 300);
        Path config = Files.writeString(tmp.resolve("reverse.yaml"), REVERSE.formatted(runDir, steps));
        CliRun train = megalith("train", "--config", config.toString(), "--set", "parallel.tp=2");
        assertThat(train.exit()).as(train.err()).isZero();

        List<String> prompts = List.of("123", "4071", "98", "5550");
        List<String> args = new ArrayList<>(List.of("generate", "--run", runDir.toString()));
        prompts.forEach(p -> args.addAll(List.of("-p", p)));
        CliRun greedy = megalith(args.toArray(String[]::new));
        assertThat(greedy.exit()).as(greedy.err()).isZero();
        assertThat(greedy.out()).contains("at step " + steps).contains("greedy");
        for (String p : prompts) {
            assertThat(greedy.out()).contains(p + " -> " + new StringBuilder(p).reverse());
        }
        args.addAll(List.of("--beams", "3"));
        CliRun beam = megalith(args.toArray(String[]::new));
        assertThat(beam.exit()).as(beam.err()).isZero();
        assertThat(beam.out()).contains("beam search, 3 beams").contains("4071 -> 1704");

        CliRun heldOut = megalith("generate", "--run", runDir.toString(), "--samples", "6");
        assertThat(heldOut.exit()).as(heldOut.err()).isZero();
        assertThat(heldOut.out()).contains("of 6 held-out examples exact");

        // the CLI's model (TrainedSeq2Seq: checkpoint pieces assembled) decodes as the model the training path
        // restores on one rank (ShardedCheckpointer: resharded into a trainer)
        MegalithConfig one = ConfigLoader.fromYaml(REVERSE.formatted(runDir, steps), List.of("launch.master=inprocess"),
                "one rank");
        List<String> sources = new ArrayList<>(prompts);
        for (int i = 0; i < 20; i++) {
            sources.add(Integer.toString(10 + (i * 7919) % 9990));
        }
        try (TrainingRun run = ModelFamilies.of(one).newRun(one, new Configuration(),
                new PrintStream(OutputStream.nullOutputStream()), RankGroups.single(), true, null);
                TrainedSeq2Seq trained = TrainedSeq2Seq.load(RunCheckpoint.latest(runDir.toString()), ModelFamilies.ENCODER_DECODER::named,
                        new Configuration(), 1)) {
            assertThat(run.startStep()).isEqualTo(steps);
            Seq2SeqRunTask.Vocabulary v = trained.vocabulary();
            EncoderDecoder model = new EncoderDecoder(v.modelConfig(one));
            try (ParameterStore store = new ParameterStore(model, trained.manager(), 0)) {
                store.load(run.fullParameters());
                long[][] tokens = new Seq2SeqGenerator(model, trained.manager()).greedy(v.batch(sources), sources.size(),
                        v.maxSourceLen(), v.maxTargetLen());
                List<String> expected = Arrays.stream(tokens).map(v::decode).toList();
                assertThat(trained.decode(sources, 1, 0)).isEqualTo(expected);
            }
        }
    }

    @Test
    void aBertRunIsRefusedWithAHint() throws Exception {
        Path runDir = tmp.resolve("bert");
        Path config = Files.writeString(tmp.resolve("bert.yaml"), """
                run: {dir: "%s", name: bert}
                model: {family: bert, n_layer: 1, n_head: 2, n_embd: 16, block_size: 8, dropout: 0.0}
                data: {task: addition, digits: 2}
                train: {max_steps: 2, batch_size: 16, warmup_steps: 1, eval_batches: 1}
                launch: {master: inprocess}
                runtime: {threads: 1}
                """.formatted(runDir));
        assertThat(megalith("train", "--config", config.toString()).exit()).isZero();
        CliRun gen = megalith("generate", "--run", runDir.toString());
        assertThat(gen.exit()).isEqualTo(1);
        assertThat(gen.err()).contains("model.family bert").contains("does not generate").contains("megalith finetune");
    }
}
