package io.megalith.core.inference;

import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.family.clip.ClipCanvas;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A clip run's text tower as another model starts from it (checkpoint.init_text_from): its tokenizer, its shape
 * (without dropout) and its weights, named below the tower ({@code layers.0.attn.qkv.weight}, not
 * {@code text.layers...}). Text-to-image systems condition on a pretrained text encoder (Imagen's T5, Stable
 * Diffusion's CLIP text tower) rather than learn one from the denoising loss alone.
 */
public record ClipTextTower(byte[] tokenizer, TextEncoderConfig shape, Map<String, HostTensor> weights) {
    private static final String TOWER = "text.";

    /** The text tower of {@code runDir}'s latest complete checkpoint; fails naming the key when it is not a clip run. */
    public static ClipTextTower load(String runDir, Configuration hadoop) throws IOException {
        SavedRun saved;
        try {
            saved = SavedRun.load(RunCheckpoint.latest(runDir), hadoop);
        } catch (IOException e) {
            throw new InvalidInputException("checkpoint.init_text_from: " + runDir + " has no complete checkpoint ("
                    + e.getMessage() + "); name a trained clip run's directory", e);
        }
        if (!RunDirFs.of(runDir, hadoop).exists(ClipCanvas.FILE)) { // what every clip run writes (TrainedClip)
            throw new InvalidInputException("checkpoint.init_text_from: " + runDir + " is a model.family "
                    + saved.state().family() + " run; name a clip run's directory");
        }
        MegalithConfig.Model m = saved.config().model();
        byte[] tokenizer = saved.tokenizer();
        CaptionTokens tokens = new CaptionTokens(Tokenizers.fromBytes(tokenizer), m.textLen());
        TextEncoderConfig shape = new TextEncoderConfig(tokens.vocabSize(), tokens.padId(), m.textLen(), m.nLayer(),
                m.nHead(), m.nEmbd(), 0, m.bias(), TextEncoderConfig.Mask.valueOf(m.textMask().toUpperCase(Locale.ROOT)));
        Map<String, HostTensor> weights = new LinkedHashMap<>();
        saved.model().forEach((name, t) -> {
            if (name.startsWith(TOWER)) {
                weights.put(name.substring(TOWER.length()), t);
            }
        });
        return new ClipTextTower(tokenizer, shape, weights);
    }
}
