#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace puppy::resp {

// Splits one inline command line (without its line ending) into arguments with the rules of
// Redis's sdssplitargs: blanks separate arguments; "double quotes" understand \n \r \t \b \a \xHH
// and \<any>; 'single quotes' understand \'; a closing quote must be followed by a blank or the
// end. Appends the arguments to *out and returns true, or returns false on unbalanced quotes (then
// *out holds whatever was appended before the error).
bool split_inline_args(std::string_view line, std::vector<std::string>* out);

}  // namespace puppy::resp
