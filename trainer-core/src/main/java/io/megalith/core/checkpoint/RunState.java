package io.megalith.core.checkpoint;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.GptConfig;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The non-tensor state a checkpoint carries. Random streams are counter-based and keyed by
 * (seed, step), and samples depend only on (seed, step), so step and seed are the whole RNG and
 * data position; they are stored explicitly anyway so a reader needs no such knowledge.
 */
public record RunState(
        @JsonProperty("format_version") int formatVersion,
        long step,
        long seed,
        long optimizerStep,
        long dataPosition,
        GptConfig model,
        String tokenizerKind,
        String configYaml,
        String family,
        String familyModel) {
    public static final int FORMAT_VERSION = 1;

    /**
     * @param model the GPT's shape (null for another model family)
     * @param family {@code model.family} of the run (null: gpt, as checkpoints written before it was stored)
     * @param familyModel another family's model shape, for a resume to compare (null for the GPT)
     */
    @JsonCreator
    public RunState {
        family = family == null ? MegalithConfig.Model.DEFAULT_FAMILY : family;
    }

    /** A GPT run's state. */
    public RunState(int formatVersion, long step, long seed, long optimizerStep, long dataPosition, GptConfig model,
            String tokenizerKind, String configYaml) {
        this(formatVersion, step, seed, optimizerStep, dataPosition, model, tokenizerKind, configYaml,
                MegalithConfig.Model.DEFAULT_FAMILY, null);
    }
    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static RunState fromJson(byte[] json) throws IOException {
        RunState s = JSON.readValue(json, RunState.class);
        if (s.formatVersion() > FORMAT_VERSION) {
            throw new IOException("checkpoint state format " + s.formatVersion() + " is newer than this Megalith ("
                    + FORMAT_VERSION + ")");
        }
        return s;
    }
}
