package io.megalith.launcher.cli;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.PairsData;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.train.BaseRun;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.eval.AdditionAccuracy;
import io.megalith.core.train.eval.PairAccuracy;
import io.megalith.core.train.outputs.TrainedModel;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code megalith generate}: samples text from the latest checkpoint of a run. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample from a trained run (its latest complete checkpoint), with a KV cache.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = {"-r", "--run"}, required = true, paramLabel = "DIR", description = "run.dir of a trained run")
    String runDir;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "text to continue (default: the run's generate.prompt, or a newline; "
            + "on an addition or a GPT prompt -> answer run: show held-out problems worked greedily); an "
            + "encoder_decoder run: a source string "
            + "to decode (default: held-out examples). Repeatable")
    List<String> prompts;

    @Option(names = "--beams", defaultValue = "1", paramLabel = "N", description = "encoder_decoder runs: beam search with this many "
            + "beams (1 = greedy)")
    int beams;

    @Option(names = {"-n", "--max-new-tokens"}, paramLabel = "N", description = "tokens to generate (default: the run's generate.max_new_tokens)")
    Integer maxNewTokens;

    @Option(names = {"-t", "--temperature"}, paramLabel = "X", description = "0 = greedy (default: the run's generate.temperature)")
    Double temperature;

    @Option(names = {"-k", "--top-k"}, paramLabel = "N", description = "sample among the k most likely tokens, 0 = all")
    Integer topK;

    @Option(names = "--samples", paramLabel = "N", description = "number of samples (default: the run's generate.samples)")
    Integer samples;

    @Option(names = "--seed", paramLabel = "N", description = "sampling seed (default: the run's seed)")
    Long seed;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "libtorch threads (0 = its default)")
    int threads;

    @Override
    public Integer call() throws IOException {
        Integer family = FamilyGenerate.run(runDir, new Configuration(), prompts, beams, maxNewTokens, samples, threads,
                System.out);
        if (family != null) {
            return family;
        }
        String prompt = prompts == null || prompts.isEmpty() ? null : prompts.get(0);
        try (TrainedModel trained = TrainedModel.load(runDir, new Configuration(), threads)) {
            MegalithConfig.Generate saved = trained.config().generate();
            MegalithConfig.Generate g = new MegalithConfig.Generate(
                    prompt != null ? prompt : saved.prompt(),
                    maxNewTokens != null ? maxNewTokens : saved.maxNewTokens(),
                    temperature != null ? temperature : saved.temperature(),
                    topK != null ? topK : saved.topK(),
                    Math.max(1, samples != null ? samples : saved.samples()));
            long s = seed != null ? seed : trained.config().seed();
            if (prompt == null && "addition".equals(trained.config().data().task())) {
                // no free text to continue: show held-out problems worked greedily, as training does at its end
                MegalithConfig.Data d = trained.config().data();
                AdditionData data = new AdditionData(d.digits(), d.heldOutFraction(), trained.config().seed());
                int n = samples != null ? Math.max(1, samples) : 8;
                AdditionAccuracy.Result r = AdditionAccuracy.evaluate(trained.model(), data, trained.manager(), n, n);
                System.out.printf("megalith: %s at step %d: %d held-out problems, %.0f%% exact%n", runDir,
                        trained.step(), n, r.accuracy() * 100);
                r.examples().forEach(System.out::println);
                return 0;
            }
            if (prompt == null && "pairs".equals(trained.config().data().task())) {
                // a prompt -> answer fine-tune: its held-out pairs worked greedily, as training measures them
                MegalithConfig c = trained.config();
                String words = BaseRun.savedDataPath(c.checkpoint().initFrom(), new Configuration());
                PairsData data = PairsData.of(c.pairsSource(), Tokenizers
                        .fromBytes(Tokenizers.toBytes(trained.tokenizer())), words, true,
                        new Configuration());
                int n = Math.min(data.heldOutPairs().size(), samples != null ? Math.max(1, samples) : 8);
                PairAccuracy.Result r = PairAccuracy.evaluate(
                        trained.model(), data.tokenizer(), data.heldOutPairs().subList(0, n), data.endOfAnswer(),
                        trained.manager(), n);
                data.close();
                System.out.printf("megalith: %s at step %d: %d held-out pairs, %.0f%% exact%n", runDir, trained.step(), n,
                        r.accuracy() * 100);
                r.examples().forEach(System.out::println);
                return 0;
            }
            System.out.printf("megalith: %s at step %d%n", runDir, trained.step());
            for (String p : prompts == null || prompts.isEmpty() ? Collections.singletonList(g.prompt()) : prompts) {
                MegalithConfig.Generate one = new MegalithConfig.Generate(p, g.maxNewTokens(), g.temperature(), g.topK(),
                        g.samples());
                for (String t : TrainingRun.generateText(trained.model(), trained.tokenizer(), trained.manager(), one, s)) {
                    System.out.println(t);
                    System.out.println("---");
                }
            }
        }
        return 0;
    }
}
