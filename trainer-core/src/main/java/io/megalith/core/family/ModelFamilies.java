package io.megalith.core.family;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * The registry of model families by name. A new family implements {@link ModelFamily} and is added to
 * {@link #REGISTERED}; config validation (through {@link FamilyCatalog}), the launcher and checkpoints then know
 * it.
 */
public final class ModelFamilies {
    public static final ModelFamily GPT = new GptFamily();
    public static final ModelFamily ENCODER_DECODER = new EncoderDecoderFamily();
    public static final ModelFamily BERT = new BertFamily();
    public static final ModelFamily VIT = new VitFamily();
    public static final ModelFamily DIT = new DitFamily();

    /** In the order config errors list them. */
    private static final Map<String, ModelFamily> REGISTERED = register(GPT, ENCODER_DECODER, BERT, VIT, DIT, new ClipFamily());

    private ModelFamilies() {}

    private static Map<String, ModelFamily> register(ModelFamily... families) {
        Map<String, ModelFamily> byName = new LinkedHashMap<>();
        for (ModelFamily f : families) {
            if (byName.putIfAbsent(f.name(), f) != null) {
                throw new IllegalStateException("two model families are named " + f.name());
            }
        }
        return byName;
    }

    /** The names model.family accepts. */
    public static List<String> names() {
        return List.copyOf(REGISTERED.keySet());
    }

    public static Collection<ModelFamily> all() {
        return List.copyOf(REGISTERED.values());
    }

    public static Optional<ModelFamily> find(String name) {
        return Optional.ofNullable(name == null ? null : REGISTERED.get(name));
    }

    /** The family named {@code name}; an unknown name fails listing the known ones. */
    public static ModelFamily byName(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException("model.family: unknown family '" + name
                + "'; known: " + String.join(", ", names())));
    }

    /**
     * The family of the run in {@code runDir}, as its newest checkpoint records it (checkpoints older than the key: the
     * GPT's). No checkpoint, or one of a family not registered here: the GPT, whose loader says what it found.
     */
    public static ModelFamily ofRun(String runDir, Configuration hadoop) throws IOException {
        return ShardedCheckpointer.peekLatest(new CheckpointStore(runDir, hadoop, 0)).map(r -> r.state().family())
                .flatMap(ModelFamilies::find).orElse(GPT);
    }

    /** The family {@code cfg}'s model.family names. */
    public static ModelFamily of(MegalithConfig cfg) {
        return byName(cfg.model().family());
    }
}
