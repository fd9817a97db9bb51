package io.megalith.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The data.* keys of data.task captions: their defaults and the messages of their checks. */
class CaptionConfigTest {
    /** Loads these overrides; a captions task trains the clip family (the family that reads captions). */
    private static MegalithConfig load(String... sets) {
        List<String> all = new ArrayList<>(List.of(sets));
        if (all.contains("data.task=captions")) {
            all.add(0, "model.family=clip");
        }
        return ConfigLoader.fromYaml("", all, "test");
    }

    private static List<String> problems(String... sets) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> load(sets));
        assertThat(e).as("expected %s to be rejected", List.of(sets)).isNotNull();
        return e.problems().stream().map(p -> p.replaceFirst(" \\[from --set [^\\]]*\\]$", "")).toList();
    }

    @Test
    void captionKeysHaveDefaultsAndBind() {
        assertThat(load().data().captions()).isEqualTo(MegalithConfig.Captions.DEFAULT);
        assertThat(MegalithConfig.Captions.DEFAULT).isEqualTo(new MegalithConfig.Captions("wide", 0.5, 8));
        MegalithConfig c = load("data.task=captions", "data.path=/data/fashion-mnist", "data.format=idx",
                "data.captions.canvas=tall", "data.captions.single_fraction=0.25", "data.captions.held_out_pairs=5");
        assertThat(c.captions()).isTrue();
        assertThat(c.images()).isFalse();
        assertThat(c.data().captions()).isEqualTo(new MegalithConfig.Captions("tall", 0.25, 5));
        assertThat(ConfigLoader.fromYaml(ConfigLoader.toYaml(c), List.of(), "rank").data()).isEqualTo(c.data());
        assertThat(load("data.task=captions", "data.path=/data/captions", "data.format=jsonl").data().format())
                .isEqualTo("jsonl");
        assertThat(load("data.task=captions", "data.builtin=shapes").captions()).isTrue();
    }

    @Test
    void captionsNeedAPathOrTheBuiltinSet() {
        assertThat(problems("data.task=captions")).containsExactly("data: data.task captions needs exactly one of "
                + "data.path (IDX files or a folder with a sub-folder per class to generate from, or a directory with "
                + "train.jsonl and data.format jsonl) and data.builtin (shapes); got neither");
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.path=x")).singleElement().asString()
                .endsWith("got both");
        assertThat(problems("data.task=captions", "data.builtin=upper"))
                .containsExactly("data.builtin: must be one of shapes (got 'upper')");
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.format=jsonl"))
                .containsExactly("data.format: jsonl reads captions from data.path, and data.builtin generates them "
                        + "from its images; remove one of them");
    }

    @Test
    void captionKeysAreCheckedAndOnlyForCaptions() {
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.captions.canvas=square"))
                .containsExactly("data.captions.canvas: must be one of wide, tall (got 'square')");
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.captions.single_fraction=1.5"))
                .containsExactly("data.captions.single_fraction: must be in [0.0, 1.0] (got 1.5)");
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.captions.held_out_pairs=-1"))
                .containsExactly("data.captions.held_out_pairs: must be >= 0 (got -1)");
        assertThat(problems("data.captions.canvas=tall")).containsExactly("data.captions: only for data.task "
                + "captions (got data.task addition); remove it");
        assertThat(problems("data.task=captions", "data.builtin=shapes", "data.captions.cells=3")).singleElement()
                .asString().isEqualTo("--set data.captions.cells=3: data.captions.cells: unknown key 'cells'. Allowed "
                        + "here: canvas, single_fraction, held_out_pairs");
        assertThat(load("data.task=captions", "data.builtin=shapes", "data.augment.flip=true").data().augment().flip())
                .isTrue();
        assertThat(problems("data.task=captions", "data.path=x", "data.format=jsonl", "data.augment.flip=true"))
                .containsExactly("data.augment: changes the items of generated canvases, not JSON Lines captions "
                        + "(data.format jsonl); remove it");
    }

    @Test
    void captionFormatsAreTheImageFormatsAndJsonl() {
        assertThat(problems("data.task=captions", "data.path=x", "data.format=parquet"))
                .containsExactly("data.format: must be one of auto, idx, folder, jsonl (got 'parquet')");
        assertThat(problems("data.task=images", "data.path=x", "data.format=jsonl"))
                .containsExactly("data.format: must be one of auto, idx, folder (got 'jsonl')");
    }

    @Test
    void ditTrainsOnCaptionsAsTextToImage() {
        MegalithConfig c = ConfigLoader.fromYaml("", List.of("model.family=dit", "data.task=captions",
                "data.builtin=shapes"), "test");
        assertThat(c.captions()).isTrue();
        assertThat(c.model().textLayers()).as("default: as n_layer").isZero();
        assertThat(c.model().textEncoderLayers()).isEqualTo(c.model().nLayer());
        assertThat(ConfigLoader.fromYaml("", List.of("model.family=dit", "data.task=captions", "data.builtin=shapes",
                "model.text_layers=1"), "test").model().textEncoderLayers()).isEqualTo(1);
        assertThat(problems("model.family=dit", "data.task=captions", "data.builtin=shapes", "model.classes=3"))
                .containsExactly("model.classes: a text-to-image dit (data.task captions) is conditioned on captions, "
                        + "not classes (got 3); set model.classes=0");
        assertThat(problems("model.family=dit", "data.task=captions", "data.builtin=shapes", "model.text_layers=-1"))
                .containsExactly("model.text_layers: must be >= 0 (got -1)");
        assertThat(problems("model.family=dit", "data.task=text", "data.path=x")).containsExactly("data.task: "
                + "model.family dit generates images: set data.task images (class-conditioned) or captions "
                + "(text-to-image) (got text)");
    }
}
