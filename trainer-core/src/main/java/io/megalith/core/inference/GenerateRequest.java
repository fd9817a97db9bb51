package io.megalith.core.inference;

import java.util.List;

/**
 * What {@code megalith generate} asks of a trained model: its options, null (or empty) where not given, so the model
 * falls back to its run's settings. Each family reads the ones it has a use for (the GPT: sampling; the
 * encoder-decoder: beams).
 *
 * @param prompts text to continue or source strings to decode; empty: the run's default (its generate.prompt, or
 *     held-out examples worked greedily)
 * @param beams beam search with this many beams (1 = greedy)
 * @param maxNewTokens tokens to generate
 * @param temperature 0 = greedy
 * @param topK sample among the k most likely tokens, 0 = all
 * @param samples samples, or held-out examples, to show
 * @param seed sampling seed
 * @param images a diffusion run's options
 */
public record GenerateRequest(List<String> prompts, int beams, Integer maxNewTokens, Double temperature, Integer topK,
        Integer samples, Long seed, Images images) {
    public GenerateRequest {
        prompts = prompts == null ? List.of() : List.copyOf(prompts);
        images = images == null ? Images.NONE : images;
    }

    /** A request without image options. */
    public GenerateRequest(List<String> prompts, int beams, Integer maxNewTokens, Double temperature, Integer topK,
            Integer samples, Long seed) {
        this(prompts, beams, maxNewTokens, temperature, topK, samples, seed, Images.NONE);
    }

    /**
     * A diffusion run's options, null where not given (the run's diffusion section decides).
     *
     * @param out the directory written (default: the run's samples/ directory)
     * @param count single images, one PNG each (classes in turn); null: a grid, a row per class
     * @param sampler ddpm or ddim
     * @param steps ddim timesteps
     * @param eta ddim noise
     * @param guidance classifier-free guidance scale
     */
    public record Images(String out, Integer count, String sampler, Integer steps, Double eta, Double guidance) {
        public static final Images NONE = new Images(null, null, null, null, null, null);
    }
}
