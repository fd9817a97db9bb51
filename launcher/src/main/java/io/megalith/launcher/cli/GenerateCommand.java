package io.megalith.launcher.cli;

import io.megalith.core.family.ModelFamilies;
import io.megalith.core.inference.GenerateRequest;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.inference.TrainedModel;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code megalith generate}: the latest checkpoint of a run, loaded by its model family, continues text (the GPT),
 * decodes source strings (the encoder-decoder) or samples images (the DiT: a PNG grid, or {@code --count} single
 * PNGs); the family reads the options it has a use for.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Sample from a trained run (its latest complete checkpoint), with a KV cache.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = {"-r", "--run"}, required = true, paramLabel = "DIR", description = "run.dir of a trained run")
    String runDir;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "text to continue (default: the run's generate.prompt, or a newline; "
            + "on an addition or a GPT prompt -> answer run: show held-out problems worked greedily); an "
            + "encoder_decoder run: a source string "
            + "to decode (default: held-out examples); a dit run on captions: a caption, a grid row each (default: "
            + "held-out compositions' captions). Repeatable")
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

    @Option(names = "--out", paramLabel = "DIR", description = "dit runs: the directory PNGs are written to "
            + "(default: the run's samples directory)")
    String out;

    @Option(names = "--count", paramLabel = "N", description = "dit runs: N single PNGs (classes, or "
            + "prompts, in turn) instead of the grid (a row per class or prompt, --samples per row, default 8)")
    Integer count;

    @Option(names = "--sampler", paramLabel = "TEXT", description = "dit runs: ddpm or ddim (default: the run's "
            + "diffusion.sampler)")
    String sampler;

    @Option(names = "--steps", paramLabel = "N", description = "dit runs: ddim timesteps (default: the run's "
            + "diffusion.sample_steps)")
    Integer steps;

    @Option(names = "--eta", paramLabel = "X", description = "dit runs: ddim noise, 0 = deterministic (default: the "
            + "run's diffusion.eta)")
    Double eta;

    @Option(names = "--guidance", paramLabel = "X", description = "dit runs: classifier-free guidance scale (default: "
            + "the run's diffusion.guidance)")
    Double guidance;

    @Option(names = "--weights", paramLabel = "FILE|DIR", description = "a GPT run: generate from these weights "
            + "instead of the checkpoint's (as megalith ckpt export writes them, any --dtype); int8 weights decode "
            + "with the Java batch-1 decoder from the int8 values")
    String weights;

    @Mixin
    CheckpointOptions checkpoint;

    /** One path for every family: the run's family (its checkpoint says which) loads it and generates. */
    @Override
    public Integer call() throws IOException {
        Configuration hadoop = new Configuration();
        GenerateRequest request = new GenerateRequest(prompts, beams, maxNewTokens, temperature, topK, samples, seed,
                new GenerateRequest.Images(out, count, sampler, steps, eta, guidance));
        try (TrainedModel trained = ModelFamilies.ofRun(runDir, hadoop).loadTrained(checkpoint.of(runDir), hadoop,
                checkpoint.threads)) {
            if (weights != null) {
                if (!(trained instanceof TrainedGpt gpt)) {
                    throw new IllegalArgumentException("--weights: " + runDir + " is a " + trained.config().model()
                            .family() + " run; generating from exported weights is for GPT runs");
                }
                gpt.useWeights(weights);
                System.out.printf("megalith: generating from %s%n", weights);
            }
            trained.generate(request, System.out);
        }
        return 0;
    }
}
