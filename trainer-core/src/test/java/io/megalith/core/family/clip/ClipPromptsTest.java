package io.megalith.core.family.clip;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ClipPromptsTest {
    @Test
    void theArticleAgreesWithTheClassAsInTheCaptions() {
        List<String> names = List.of("sandal", "ankle boot");
        assertThat(ClipEvaluation.prompts(ClipEvaluation.PROMPT, names))
                .containsExactly("a photo of a sandal", "a photo of an ankle boot");
        assertThat(ClipEvaluation.prompts("a {class}", names)).containsExactly("a sandal", "an ankle boot");
        assertThat(ClipEvaluation.prompts("{class}", names)).containsExactly("sandal", "ankle boot");
        assertThat(ClipEvaluation.prompts("this is a {class}, not a bag", names))
                .containsExactly("this is a sandal, not a bag", "this is an ankle boot, not a bag");
    }
}
