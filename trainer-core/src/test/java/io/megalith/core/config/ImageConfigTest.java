package io.megalith.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The data.* keys of data.task images: their defaults and the messages of their checks. */
class ImageConfigTest {
    private static MegalithConfig load(String... sets) {
        return ConfigLoader.fromYaml("", List.of(sets), "test");
    }

    private static List<String> problems(String... sets) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> load(sets));
        assertThat(e).as("expected %s to be rejected", List.of(sets)).isNotNull();
        // a problem of a --set key names it: "... [from --set a.b=c]"
        return e.problems().stream().map(p -> p.replaceFirst(" \\[from --set [^\\]]*\\]$", "")).toList();
    }

    @Test
    void augmentationIsOffByDefaultAndBindsFromItsKeys() {
        assertThat(load().data().augment()).isEqualTo(MegalithConfig.Augment.NONE);
        MegalithConfig c = load("data.task=images", "data.builtin=shapes", "data.augment.flip=true",
                "data.augment.crop_padding=4", "data.augment.translate=2", "data.format=auto");
        assertThat(c.images()).isTrue();
        assertThat(c.data().augment()).isEqualTo(new MegalithConfig.Augment(true, 4, 2));
        assertThat(load("data.task=images", "data.path=/data/fashion-mnist", "data.format=idx").data().format())
                .isEqualTo("idx");
    }

    @Test
    void imageSettingsSurviveTheYamlRanksAreSent() {
        MegalithConfig c = load("data.task=images", "data.path=/data/imgs", "data.format=folder",
                "data.augment.flip=true", "data.augment.crop_padding=4");
        assertThat(ConfigLoader.fromYaml(ConfigLoader.toYaml(c), List.of(), "rank").data()).isEqualTo(c.data());
    }

    @Test
    void imagesNeedAPathOrTheBuiltinSet() {
        assertThat(problems("data.task=images")).containsExactly("data: data.task images needs exactly one of "
                + "data.path (IDX files or a folder with a sub-folder per class) and data.builtin (shapes); got neither");
        assertThat(problems("data.task=images", "data.builtin=shapes", "data.path=x")).singleElement().asString()
                .endsWith("got both");
        assertThat(problems("data.task=images", "data.builtin=upper"))
                .containsExactly("data.builtin: must be one of shapes (got 'upper')");
    }

    @Test
    void imageFormatsAreIdxAndFolderAndTextFormatsStayForText() {
        assertThat(problems("data.task=images", "data.builtin=shapes", "data.format=parquet"))
                .containsExactly("data.format: must be one of auto, idx, folder (got 'parquet')");
        assertThat(problems("data.task=text", "data.path=x", "data.format=idx"))
                .containsExactly("data.format: must be one of auto, text, jsonl, parquet (got 'idx')");
    }

    @Test
    void augmentationIsOnlyForImagesAndNotNegative() {
        assertThat(problems("data.augment.flip=true")).containsExactly("data.augment: only for data.task images and "
                + "captions (got data.task addition); remove it");
        assertThat(problems("data.task=images", "data.builtin=shapes", "data.augment.translate=-1"))
                .containsExactly("data.augment.translate: must be >= 0 (got -1)");
        assertThat(problems("data.task=images", "data.builtin=shapes", "data.augment.rotate=3")).singleElement()
                .asString().isEqualTo("--set data.augment.rotate=3: data.augment.rotate: unknown key 'rotate'. Allowed here: "
                        + "flip, crop_padding, translate");
    }
}
