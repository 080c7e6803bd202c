#include "worker/tokenizer/bundled_corpus.h"

namespace lorad {

namespace {

// Written for lorad (no third-party text).  Plain prose with some dialogue,
// numbers, lists and a little code, so the merges cover common English pieces.
constexpr char kCorpus[] =
    R"CORPUS(The morning train left the station at seven, and the fields outside were still grey with mist.
A farmer walked along the fence with his dog, counting the sheep that had wandered into the wrong meadow.
When the sun came up, the mist lifted, and the river beside the tracks turned from silver to blue.

Learning a new skill takes time. At first, every step feels slow and awkward, and mistakes are frequent.
With practice, the steps become familiar, then easy, and finally automatic. The trick is to keep going
when progress seems to stop, because the learning often happens just before the results show.

"Where are you going?" asked the child.
"To the market," said her grandmother. "We need bread, apples, cheese and a little honey."
"Can I carry the basket?"
"You can carry it on the way back, when it is heavy. That is the real help."

A good recipe for soup: chop two onions, three carrots and a stick of celery. Warm some oil in a pot,
add the vegetables and cook them gently for ten minutes. Pour in one litre of stock, add a handful of
lentils, and let it simmer for thirty minutes. Season with salt and pepper, and serve it hot with bread.

The library opened at nine o'clock. Students came in quietly, found their usual tables, and opened
their books and laptops. Some were reading history, others were solving equations, and a few were
writing letters to friends who lived far away. The librarian smiled, because the room was full again.

Numbers are everywhere: 1, 2, 3, 10, 42, 100, 256, 1024, 2025 and 3.14159. A year has 365 days,
a day has 24 hours, an hour has 60 minutes, and a minute has 60 seconds. Prices rose by 5% last year.

Machine learning models learn patterns from data. A language model reads text and predicts the next
token, one step at a time. Training adjusts the weights so that the predictions improve, and the loss
goes down. Fine-tuning starts from a trained model and teaches it a new task with a smaller data set.
A low-rank adapter adds two small matrices to each layer, so only a few parameters need to change.

def add(a, b):
    return a + b

for i in range(10):
    print(i, add(i, i * 2))

int main() {
  int total = 0;
  for (int i = 0; i < 100; ++i) total += i;
  return total == 4950 ? 0 : 1;
}

The weather changed in the afternoon. Clouds gathered over the hills, the wind grew stronger, and the
first drops of rain fell on the dry road. People hurried home, holding their coats closed, while the
children laughed and jumped into the puddles as if the storm had been planned just for them.

In the evening, the town was calm again. Lights came on in the windows, and the smell of dinner drifted
through the streets. An old man sat on a bench by the harbour, watching the boats return one by one.
He had watched them every evening for forty years, and he still counted them until the last one was safe.

Questions to think about:
- What is the difference between knowing a fact and understanding it?
- Why do simple rules sometimes lead to complex behaviour?
- How would you explain the colour blue to someone who has never seen it?

Thank you for reading. Please write to us if you have questions, ideas or corrections; we read every
message, and we answer as soon as we can. Have a good day, and see you next time!
)CORPUS";

}  // namespace

std::string_view BundledCorpus() { return std::string_view(kCorpus, sizeof(kCorpus) - 1); }

}  // namespace lorad
